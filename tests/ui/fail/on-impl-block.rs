struct Agent;

#[llmobs::agent]
impl Agent {
    fn run(&self) {}
}

fn main() {
    Agent.run();
}
