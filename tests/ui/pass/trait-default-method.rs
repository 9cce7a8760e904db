trait Greeter {
    fn name(&self) -> &str;

    #[llmobs::task]
    fn greet(&self, whom: &str) -> String {
        format!("{} greets {whom}", self.name())
    }
}

struct Ann;

impl Greeter for Ann {
    fn name(&self) -> &str {
        "ann"
    }
}

fn main() {
    assert_eq!(Ann.greet("bo"), "ann greets bo");
}
