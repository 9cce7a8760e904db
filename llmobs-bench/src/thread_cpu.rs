//! CPU time of the process's threads by name, read from Linux's `/proc/self/task/*/schedstat`.
//!
//! Wall-clock throughput on a shared machine moves with whatever else the host runs; the CPU
//! time a thread spent per unit of work moves much less, so the exporter benchmark reports both.

/// Nanoseconds of CPU time the threads of this process named `name` have used so far; `None`
/// where `/proc` has no such figures (not Linux) or no thread has that name.
pub fn cpu_ns(name: &str) -> Option<u64> {
    let mut total = None;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let dir = task.path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        if comm.trim_end() != name {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(dir.join("schedstat")) else {
            continue;
        };
        if let Some(ns) = stat
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<u64>().ok())
        {
            *total.get_or_insert(0) += ns;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_thread_has_cpu_time() {
        let h = std::thread::Builder::new()
            .name("cpu-probe".into())
            .spawn(|| {
                let mut x = 0u64;
                for i in 0..20_000_000u64 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                }
                let ns = cpu_ns("cpu-probe");
                (x, ns)
            })
            .unwrap();
        let (_, ns) = h.join().unwrap();
        if std::path::Path::new("/proc/self/task").exists() {
            assert!(
                ns.unwrap_or(0) > 0,
                "a thread that ran has CPU time: {ns:?}"
            );
        }
        assert_eq!(cpu_ns("no-thread-has-this-name"), None);
    }
}
