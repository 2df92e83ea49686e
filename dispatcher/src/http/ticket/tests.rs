//! The ticketer: sealing and opening, rotation, and the key file format.

use super::*;

const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const KEY_B: &str = "f0e0d0c0b0a090807060504030201000ffeeddccbbaa99887766554433221100";
const KEY_C: &str = "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed";

/// A key file holding `text` in a temp folder of its own.
struct KeyFile {
    dir: tempfile::TempDir,
}

impl KeyFile {
    fn new(text: &str) -> Self {
        let file = KeyFile {
            dir: tempfile::tempdir().unwrap(),
        };
        file.write(text);
        file
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("ticket.keys")
    }

    fn write(&self, text: &str) {
        std::fs::write(self.path(), text).unwrap();
    }

    fn ticketer(&self) -> Ticketer {
        Ticketer::from_file(&self.path()).unwrap()
    }
}

/// A ticketer over the keys `text` spells, one per line.
fn ticketer(text: &str) -> (KeyFile, Ticketer) {
    let file = KeyFile::new(text);
    let ticketer = file.ticketer();
    (file, ticketer)
}

const STATE: &[u8] = b"a resumption secret and its parameters";

#[test]
fn a_ticket_opens_with_the_key_that_sealed_it_and_on_another_replica() {
    let (_file, a) = ticketer(KEY_A);
    let ticket = a.encrypt(STATE).unwrap();
    assert_eq!(a.decrypt(&ticket).as_deref(), Some(STATE));
    // Another process with the same file: the point of the flag.
    let (_other, b) = ticketer(&format!("# shared\n\n{KEY_A}  # current\n"));
    assert_eq!(b.decrypt(&ticket).as_deref(), Some(STATE));
    assert!(a.enabled());
    assert_eq!(a.lifetime(), TICKET_LIFETIME);
}

#[test]
fn tickets_differ_each_time_and_hide_the_state() {
    let (_file, a) = ticketer(KEY_A);
    let (one, two) = (a.encrypt(STATE).unwrap(), a.encrypt(STATE).unwrap());
    assert_ne!(one, two, "a nonce was reused");
    assert_eq!(one.len(), NAME_LEN + NONCE_LEN + STATE.len() + 16);
    assert!(!one.windows(STATE.len()).any(|w| w == STATE));
}

#[test]
fn a_different_key_or_an_altered_ticket_is_refused() {
    let (_file, a) = ticketer(KEY_A);
    let (_other, b) = ticketer(KEY_B);
    let ticket = a.encrypt(STATE).unwrap();
    assert_eq!(b.decrypt(&ticket), None);
    for i in [0, NAME_LEN, NAME_LEN + NONCE_LEN, ticket.len() - 1] {
        let mut altered = ticket.clone();
        altered[i] ^= 1;
        assert_eq!(a.decrypt(&altered), None, "byte {i} altered");
    }
    for len in [0, NAME_LEN, NAME_LEN + NONCE_LEN, ticket.len() - 1] {
        assert_eq!(a.decrypt(&ticket[..len]), None, "cut to {len} bytes");
    }
}

#[test]
fn after_a_rotation_the_previous_key_still_opens_and_the_new_one_seals() {
    let (file, a) = ticketer(KEY_A);
    let old_ticket = a.encrypt(STATE).unwrap();
    // The procedure the docs give: new key first, old key kept after it.
    file.write(&format!("{KEY_B}\n{KEY_A}\n"));
    a.reload().unwrap();
    assert_eq!(a.decrypt(&old_ticket).as_deref(), Some(STATE));
    let new_ticket = a.encrypt(STATE).unwrap();
    let (_b_only, b) = ticketer(KEY_B);
    assert_eq!(b.decrypt(&new_ticket).as_deref(), Some(STATE));
    assert_eq!(b.decrypt(&old_ticket), None);
}

#[test]
fn a_reload_keeps_the_key_that_sealed_until_then_for_one_generation() {
    let (file, a) = ticketer(KEY_A);
    let ticket_a = a.encrypt(STATE).unwrap();
    // The whole file replaced: this replica's own tickets still open.
    file.write(KEY_B);
    a.reload().unwrap();
    assert_eq!(a.decrypt(&ticket_a).as_deref(), Some(STATE));
    let ticket_b = a.encrypt(STATE).unwrap();
    // One more rotation: B is kept, A is gone.
    file.write(KEY_C);
    a.reload().unwrap();
    assert_eq!(a.decrypt(&ticket_b).as_deref(), Some(STATE));
    assert_eq!(a.decrypt(&ticket_a), None);
}

#[test]
fn a_bad_file_on_reload_keeps_the_keys_in_use() {
    let (file, a) = ticketer(KEY_A);
    let ticket = a.encrypt(STATE).unwrap();
    file.write("not a key\n");
    let err = a.reload().unwrap_err().to_string();
    assert!(err.contains(":1: "), "{err}");
    std::fs::remove_file(file.path()).unwrap();
    let err = a.reload().unwrap_err().to_string();
    assert!(err.starts_with("cannot read "), "{err}");
    assert_eq!(a.decrypt(&ticket).as_deref(), Some(STATE));
    assert_eq!(
        a.decrypt(&a.encrypt(STATE).unwrap()).as_deref(),
        Some(STATE)
    );
}

/// (file text, substrings of the error; empty: the file loads).
#[test]
fn bad_key_files_are_refused_naming_the_line() {
    let too_many = format!("{KEY_A}\n").repeat(MAX_KEYS + 1);
    let cases: [(&str, &[&str]); 9] = [
        (KEY_A, &[]),
        (&format!("{}\n", KEY_A.to_uppercase()), &[]),
        ("", &["ticket.keys: no key", "openssl rand -hex 32"]),
        ("# only a comment\n\n", &["no key"]),
        (
            &KEY_A[..62],
            &["ticket.keys:1: ", "64 hex digits", "has 62"],
        ),
        (&format!("{KEY_A}\n{KEY_B}00"), &[":2: ", "has 66"]),
        (
            &format!("\n{}", KEY_A.replace('0', "g")),
            &[":2: ", "not a hex key"],
        ),
        (&format!("+{}", &KEY_A[1..]), &[":1: ", "not a hex key"]),
        (&too_many, &["17 keys, at most 16"]),
    ];
    for (i, (text, want)) in cases.into_iter().enumerate() {
        let file = KeyFile::new(text);
        crate::http::assert_loads_or_refuses(i, Ticketer::from_file(&file.path()), want);
    }
}

#[test]
fn debug_output_never_shows_a_key() {
    let (_file, a) = ticketer(KEY_A);
    let shown = format!("{a:?}");
    assert!(shown.contains("keys: 1"), "{shown}");
    assert!(!shown.contains(&KEY_A[..12]), "{shown}");
}
