//! Prints the results of the last `llmobs-bench/run.sh` as one markdown table, with the
//! machine they come from.

fn main() {
    println!("Machine: {}", llmobs_bench::results::machine());
    println!("Command: `bash llmobs-bench/run.sh`\n");
    print!("{}", llmobs_bench::results::full_table());
    println!();
    print!("{}", llmobs_bench::results::delivered_table());
    println!();
    print!("{}", llmobs_bench::results::notes());
}
