//! CPU time of named processes over a run's measured window, read from /proc: `--cpu-of
//! NAME=PID` (or `NAME=self` for the generator) counts the process and every descendant alive at
//! the window's edges (PostgreSQL's backends are children of its postmaster) except those under
//! another watched process (the embedded PostgreSQL is Parley's child, and counted apart), so a
//! report can say how many µs of each process's CPU one message cost.

use std::collections::HashMap;
use std::time::Instant;

/// One watched process tree.
#[derive(Debug, Clone)]
pub(crate) struct Watched {
    pub(crate) name: String,
    pub(crate) pid: u32,
}

/// Reads `NAME=PID` or `NAME=self`.
pub(crate) fn parse(spec: &str) -> Result<Watched, String> {
    let (name, pid) = spec
        .split_once('=')
        .ok_or_else(|| format!("`{spec}` is not NAME=PID"))?;
    let pid = match pid {
        "self" => std::process::id(),
        pid => pid.parse().map_err(|_| format!("`{pid}` is not a pid"))?,
    };
    Ok(Watched {
        name: name.to_owned(),
        pid,
    })
}

/// Clock ticks per second of /proc times (USER_HZ: 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

/// Every process's (parent, ticks): its own utime + stime and its reaped children's cutime +
/// cstime, so a child that exits within a window (a pooled PostgreSQL backend closed for being
/// idle) moves its time to its parent instead of taking it out of the tree's total.
fn table() -> HashMap<u32, (u32, u64)> {
    let mut out = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the parenthesised command: state(0) ppid(1) ... utime(11) stime(12)
        // cutime(13) cstime(14).
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        if let (Some(ppid), Some(utime), Some(stime)) = (number(1), number(11), number(12)) {
            let reaped = number(13).unwrap_or(0) + number(14).unwrap_or(0);
            out.insert(
                pid,
                (u32::try_from(ppid).unwrap_or(0), utime + stime + reaped),
            );
        }
    }
    out
}

/// Ticks of `root` and its descendants, leaving out the subtrees of `apart`.
fn tree_ticks(table: &HashMap<u32, (u32, u64)>, root: u32, apart: &[u32]) -> u64 {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (pid, (ppid, _)) in table {
        children.entry(*ppid).or_default().push(*pid);
    }
    let mut total = 0;
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        if let Some((_, ticks)) = table.get(&pid) {
            total += ticks;
        }
        if let Some(kids) = children.get(&pid) {
            stack.extend(kids.iter().copied().filter(|k| !apart.contains(k)));
        }
    }
    total
}

fn sample(watched: &[Watched]) -> Vec<u64> {
    let table = table();
    let pids: Vec<u32> = watched.iter().map(|w| w.pid).collect();
    watched
        .iter()
        .map(|w| tree_ticks(&table, w.pid, &pids))
        .collect()
}

/// Quiet: the watched processes (other than the generator) used under 5% of a core in total
/// over the last second.
const QUIET_TICKS_PER_S: u64 = 5;
/// Longest wait for quiet; a system busy with its own background work is measured anyway.
const SETTLE_MOST: std::time::Duration = std::time::Duration::from_secs(30);

/// Waits until the watched servers are idle (set-up work finished: a homeserver's background
/// jobs, a cluster's first checkpoint), at most 30 s. Returns how long it waited.
pub(crate) async fn settle(watched: &[Watched]) -> std::time::Duration {
    let me = std::process::id();
    let servers: Vec<Watched> = watched.iter().filter(|w| w.pid != me).cloned().collect();
    let started = Instant::now();
    if servers.is_empty() {
        return started.elapsed();
    }
    let mut before = sample(&servers).iter().sum::<u64>();
    while started.elapsed() < SETTLE_MOST {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let now = sample(&servers).iter().sum::<u64>();
        if now.saturating_sub(before) < QUIET_TICKS_PER_S {
            break;
        }
        before = now;
    }
    started.elapsed()
}

/// Waits for `start`, samples, waits for `end`, samples: each tree's CPU seconds in between.
pub(crate) async fn measure(
    watched: Vec<Watched>,
    start: Instant,
    end: Instant,
) -> Vec<(String, f64)> {
    if watched.is_empty() {
        return Vec::new();
    }
    tokio::time::sleep_until(start.into()).await;
    let before = sample(&watched);
    tokio::time::sleep_until(end.into()).await;
    let after = sample(&watched);
    watched
        .into_iter()
        .zip(before.into_iter().zip(after))
        .map(|(w, (b, a))| (w.name, a.saturating_sub(b) as f64 / TICKS_PER_S))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a child that exited within a window took its time out of the tree's total
    /// (a pooled PostgreSQL backend closed for being idle showed as 0 µs per message). Its time
    /// now stays with the parent that reaped it.
    #[test]
    fn a_reaped_childs_time_stays_in_the_tree() {
        let mut shell = std::process::Command::new("sh")
            .arg("-c")
            .arg("( i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done ); exec sleep 30")
            .spawn()
            .expect("sh runs");
        let pid = shell.id();
        // Once the shell has become `sleep`, its busy child has exited and been reaped.
        let deadline = Instant::now() + std::time::Duration::from_secs(30);
        while std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| c.trim() != "sleep")
            .unwrap_or(true)
            && Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let ticks = tree_ticks(&table(), pid, &[]);
        let _ = shell.kill();
        let _ = shell.wait();
        assert!(
            ticks >= 2,
            "the reaped child's CPU is counted: {ticks} ticks"
        );
    }

    #[test]
    fn specs_and_trees() {
        assert_eq!(parse("pg=42").map(|w| w.pid), Ok(42));
        assert_eq!(parse("me=self").map(|w| w.pid), Ok(std::process::id()));
        assert!(parse("nope").is_err());
        assert!(parse("x=abc").is_err());
        let table = HashMap::from([(1, (0, 5)), (2, (1, 7)), (3, (2, 11)), (4, (0, 100))]);
        assert_eq!(tree_ticks(&table, 1, &[]), 23);
        assert_eq!(
            tree_ticks(&table, 1, &[3]),
            12,
            "a watched child is counted apart"
        );
        assert_eq!(tree_ticks(&table, 4, &[]), 100);
        assert!(
            sample(&[Watched {
                name: "me".into(),
                pid: std::process::id()
            }])[0]
                < u64::MAX
        );
    }
}
