//! The request bytes and reply parsing, against the kernel's layouts.

use super::*;

/// One reply message as the kernel writes it: a header, then an
/// `inet_diag_msg` (72 bytes) whose local port is at offset 4.
fn reply(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
    let len = HEADER_LEN + body.len();
    let mut message = Vec::new();
    message.extend_from_slice(&(len as u32).to_ne_bytes());
    message.extend_from_slice(&kind.to_ne_bytes());
    message.extend_from_slice(&0x2u16.to_ne_bytes()); // NLM_F_MULTI
    message.extend_from_slice(&seq.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes());
    message.extend_from_slice(body);
    message.resize(len.next_multiple_of(4), 0);
    message
}

fn socket(seq: u32, port: u16) -> Vec<u8> {
    let mut body = vec![0u8; 72];
    body[0] = 2;
    body[1] = 1; // TCP_ESTABLISHED
    body[REPLY_SPORT..REPLY_SPORT + 2].copy_from_slice(&port.to_be_bytes());
    reply(TCPDIAG_GETSOCK, seq, &body)
}

fn done(seq: u32, status: i32) -> Vec<u8> {
    reply(NLMSG_DONE, seq, &status.to_ne_bytes())
}

#[test]
fn the_request_matches_the_kernel_layout() {
    let message = request(0x1F90, 7);
    assert_eq!(message.len(), 96);
    assert_eq!(u32_at(&message, 0), 96, "nlmsg_len");
    assert_eq!(&message[4..6], &18u16.to_ne_bytes(), "TCPDIAG_GETSOCK");
    assert_eq!(&message[6..8], &0x301u16.to_ne_bytes(), "REQUEST | DUMP");
    assert_eq!(u32_at(&message, 8), 7, "seq");
    assert!(
        message[16..68].iter().all(|&b| b == 0),
        "any family, no extensions, no socket named"
    );
    assert_eq!(u32_at(&message, 68), 2, "TCPF_ESTABLISHED");
    assert_eq!(u32_at(&message, 72), 0, "dbs");
    assert_eq!(&message[76..78], &20u16.to_ne_bytes(), "attribute length");
    assert_eq!(
        &message[78..80],
        &1u16.to_ne_bytes(),
        "INET_DIAG_REQ_BYTECODE"
    );
    let (port, reject_early, reject) = (
        0x1F90u16.to_ne_bytes(),
        20u16.to_ne_bytes(),
        12u16.to_ne_bytes(),
    );
    let want = [
        [2, 8, reject_early[0], reject_early[1]], // S_GE: on to S_LE, or reject
        [0, 0, port[0], port[1]],                 // its operand
        [3, 8, reject[0], reject[1]],             // S_LE: accept, or reject
        [0, 0, port[0], port[1]],
    ]
    .concat();
    assert_eq!(&message[80..], &want[..]);
}

#[test]
fn batches_count_the_sockets_on_the_port() {
    let seq = 9;
    let cases: Vec<(Vec<u8>, Batch)> = vec![
        (vec![], Batch::More(0)),
        ([socket(seq, 80), socket(seq, 80)].concat(), Batch::More(2)),
        (
            [socket(seq, 80), socket(seq, 80), done(seq, 0)].concat(),
            Batch::Done(2),
        ),
        // A socket on another port (a filter the kernel did not apply) and
        // the leftovers of an abandoned earlier request do not count.
        (
            [
                socket(seq, 81),
                socket(seq - 1, 80),
                done(seq - 1, 0),
                socket(seq, 80),
            ]
            .concat(),
            Batch::More(1),
        ),
        (done(seq, 0), Batch::Done(0)),
    ];
    for (batch, want) in cases {
        assert_eq!(count_batch(&batch, seq, 80).unwrap(), want, "{batch:?}");
    }
}

#[test]
fn errors_and_broken_batches_are_errors() {
    let seq = 3;
    let enoent = reply(NLMSG_ERROR, seq, &(-2i32).to_ne_bytes());
    let err = count_batch(&[socket(seq, 80), enoent].concat(), seq, 80).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(2), "{err}");
    let interrupted = done(seq, -4);
    assert_eq!(
        count_batch(&interrupted, seq, 80)
            .unwrap_err()
            .raw_os_error(),
        Some(4)
    );
    let mut truncated = socket(seq, 80);
    truncated.truncate(40);
    assert_eq!(
        count_batch(&truncated, seq, 80).unwrap_err().kind(),
        io::ErrorKind::InvalidData
    );
    let mut too_short = socket(seq, 80);
    too_short[0..4].copy_from_slice(&8u32.to_ne_bytes());
    assert!(count_batch(&too_short, seq, 80).is_err());
}
