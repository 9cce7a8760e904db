mod inner {
    /// Documented, inlined, must-use and crate-visible: all kept.
    #[llmobs::task]
    #[inline]
    #[must_use]
    pub(crate) fn kept(a: u32) -> u32 {
        a
    }

    #[llmobs::tool]
    pub async fn public(a: u32) -> u32 {
        #![allow(unused_variables)]
        let unused = 1;
        a
    }

    #[llmobs::task]
    pub fn with_inner_attribute(a: u32) -> u32 {
        #![allow(unused_variables)]
        let unused = 1;
        a
    }
}

fn main() {
    assert_eq!(inner::kept(1), 1);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(inner::public(2)), 2);
    assert_eq!(inner::with_inner_attribute(3), 3);
}
