//! A paste reaches a big room promptly, and the server's memory does not
//! multiply by the audience: the room's log keeps the paste once for all.

mod common;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::*;

/// Read from every peer until each has had `want[i]` bytes, or `within` passes;
/// returns how many each got, and what the last one got.
fn read_all(peers: &mut [Peer], want: &[usize], within: Duration) -> (Vec<usize>, Vec<u8>) {
    let mut got = vec![0usize; peers.len()];
    let mut fds: Vec<libc::pollfd> = peers
        .iter()
        .map(|p| libc::pollfd { fd: p.stream.as_raw_fd(), events: libc::POLLIN, revents: 0 })
        .collect();
    let (mut buf, mut last) = (vec![0u8; 1 << 16], Vec::new());
    let deadline = Instant::now() + within;
    while got.iter().zip(want).any(|(g, w)| g < w) && Instant::now() < deadline {
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
        for (i, fd) in fds.iter().enumerate() {
            if fd.revents != 0 && got[i] < want[i] {
                match peers[i].stream.read(&mut buf) {
                    Ok(n) => got[i] += n,
                    Err(e) => panic!("{}: {e}", peers[i].addr),
                }
                if i == peers.len() - 1 {
                    last.extend_from_slice(&buf[..got[i] - last.len()]);
                }
            }
        }
    }
    (got, last)
}

/// One 64 KiB paste of one-letter lines (`"a\n"` 32,768 times) into a room of
/// 500 members that read: every one gets all 32,768 lines within 15 s, nobody is
/// cut, and the server's peak RSS stays under 64 MiB. (On the build before the
/// room log, its fake lag charged one send per member reached: after 60 s, each
/// reader had 20,048 of the lines.)
#[test]
fn a_paste_reaches_a_room_of_five_hundred() {
    const N: usize = 500;
    raise_nofile(4096);
    let srv = Srv::start();
    let mut peers: Vec<Peer> = (1..=N).map(|n| Peer::join(&srv, n)).collect();
    // Each member first gets the join notices of those who came after it.
    let joins: Vec<usize> =
        (0..N).map(|i| (i + 2..=N).map(|n| join_msg(&peers[n - 1].addr, n).len()).sum()).collect();
    let (got, _) = read_all(&mut peers, &joins, WAIT);
    assert_eq!(got, joins, "the join notices");
    let paster = peers.remove(0);
    let line = send_msg(&paster.addr, "a");
    let want = vec![line.len() * 32_768; N - 1];
    let started = Instant::now();
    (&paster.stream).write_all(&b"a\n".repeat(32_768)).expect("paste");
    let (got, last) = read_all(&mut peers, &want, Duration::from_secs(30));
    let took = started.elapsed();
    let peak = status_kib(srv.pid(), "VmHWM:");
    let fewest = got.iter().min().map_or(0, |g| g / line.len());
    eprintln!(
        "a 64 KiB paste into a room of {N}: after {took:?}, the member with the fewest had \
         {fewest} of the 32,768 lines; server peak RSS {peak} KiB"
    );
    let whole = line.repeat(32_768);
    assert!(last == whole.as_bytes(), "the last member got {} bytes, not the paste", last.len());
    let short = got.iter().zip(&want).filter(|(g, w)| g < w).count();
    assert_eq!(short, 0, "{short} members did not get the whole paste in {took:?}");
    assert!(took < Duration::from_secs(15), "the paste took {took:?}");
    assert!(!srv.console().contains(" (error) "), "somebody was cut");
    assert!(peak < 64 * 1024, "server peak RSS {peak} KiB");
}
