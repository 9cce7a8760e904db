//! Compile-time behaviour of the attributes: every supported form compiles and runs
//! (`tests/ui/pass`), and every misuse is one clear error at the user's token (`tests/ui/fail`).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
