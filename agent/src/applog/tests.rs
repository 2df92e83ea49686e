use std::io::Write as _;

use super::*;

fn append(path: &Path, text: &str) {
    let mut file = (std::fs::OpenOptions::new().create(true).append(true))
        .open(path)
        .expect("open log");
    file.write_all(text.as_bytes()).expect("append");
}

fn lines(tail: &mut Tail) -> Vec<String> {
    let mut seen = Vec::new();
    tail.read(&mut |line| seen.push(String::from_utf8_lossy(line).into_owned()))
        .expect("read");
    seen
}

#[test]
fn it_starts_at_the_end_and_waits_for_whole_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("access.log");
    append(&path, "old\n");
    let mut tail = Tail::new(&path);
    assert!(lines(&mut tail).is_empty(), "history is not news");
    append(&path, "one\ntw");
    assert_eq!(lines(&mut tail), ["one"]);
    append(&path, "o\n");
    assert_eq!(lines(&mut tail), ["two"]);
}

#[test]
fn it_follows_rename_rotation_and_truncation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("access.log");
    let mut tail = Tail::new(&path);
    // The log appears after the agent started: read from its beginning.
    append(&path, "a\n");
    assert_eq!(lines(&mut tail), ["a"]);
    // logrotate: the last lines of the old file, then the new file.
    append(&path, "b\n");
    std::fs::rename(&path, dir.path().join("access.log.1")).expect("rotate");
    append(&path, "c\n");
    assert_eq!(lines(&mut tail), ["b", "c"]);
    // copytruncate: the same file, emptied, then written from the start.
    std::fs::write(&path, "").expect("truncate");
    assert!(lines(&mut tail).is_empty());
    append(&path, "d\n");
    assert_eq!(lines(&mut tail), ["d"]);
}

#[test]
fn reading_is_bounded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("access.log");
    std::fs::write(&path, "").expect("create");
    let mut tail = Tail::new(&path);
    let line = "x".repeat(99) + "\n";
    append(&path, &line.repeat(3 * MAX_READ as usize / 100));
    let seen = lines(&mut tail);
    // Only the newest MiB is read, starting at a line boundary.
    assert!(seen.len() <= MAX_READ as usize / 100, "{}", seen.len());
    assert!(seen.len() > MAX_READ as usize / 100 - 2);
    assert!(seen.iter().all(|l| l.len() == 99));
    // A line longer than MAX_LINE is skipped whole, the next one is read.
    append(&path, &("y".repeat(MAX_LINE + 1) + "\nshort\n"));
    assert_eq!(lines(&mut tail), ["short"]);
}
