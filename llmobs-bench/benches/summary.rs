//! The last bench of `cargo bench` (benches run in name order): prints every result of the run in one table, with the
//! ratios against each peer (`cargo run --release -p llmobs-bench --bin report` prints it again).

fn main() {
    if !llmobs_bench::selected("summary") {
        return;
    }
    println!("\nMachine: {}", llmobs_bench::results::machine());
    println!("Command: `cargo bench`\n");
    print!("{}", llmobs_bench::results::full_table());
    println!();
    print!("{}", llmobs_bench::results::delivered_table());
    println!();
    print!("{}", llmobs_bench::results::notes());
}
