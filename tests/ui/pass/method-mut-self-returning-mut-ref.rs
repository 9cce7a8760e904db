struct Cart {
    items: Vec<u32>,
}

impl Cart {
    #[llmobs::task]
    fn items_mut(&mut self) -> &mut Vec<u32> {
        &mut self.items
    }

    #[llmobs::task]
    async fn last_mut(&mut self) -> Option<&mut u32> {
        self.items.last_mut()
    }
}

fn main() {
    let mut cart = Cart { items: vec![] };
    cart.items_mut().push(1);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    *rt.block_on(cart.last_mut()).unwrap() += 1;
    assert_eq!(cart.items, [2]);
}
