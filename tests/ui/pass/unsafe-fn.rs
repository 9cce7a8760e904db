#[llmobs::task]
unsafe fn read(p: *const u32) -> u32 {
    *p
}

#[llmobs::task]
async unsafe fn read_later(p: *const u32) -> u32 {
    *p
}

fn main() {
    let x = 5u32;
    assert_eq!(unsafe { read(&x) }, 5);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(unsafe { read_later(&x) }), 5);
}
