//! The room's rules: who may speak and how fast, who is cut, who may come in.
//!
//! Not in the report, which has no rules: one client that stops reading freezes
//! its room, one that floods fills every turn, one host can take every slot. The
//! loop in [`crate::server`] is mechanism in the report's shape (select, accept,
//! receive, send, reap); it asks this module, and this module only decides. Every
//! rule is a constant below and a pure function of plain state and a clock passed
//! in, so each is tested with a fake clock. A student may skip this file and
//! still follow the loop. The six rules, as `docs/robustness.md` states them:
//!
//! 1. **Speak**: the room's log grows at most [`ROOM_RATE`] bytes a second,
//!    shared equally by the hosts speaking, each of which may say
//!    [`BURST_TIME`]'s worth of its share at once after a pause; a host over its
//!    share is not read, its bytes wait in the kernel and TCP slows it down (IRC's
//!    "fake lag", counted in what the room must carry).
//! 2. **Log**: a member more than [`LOG_LIMIT`] bytes behind the head of the
//!    room's log is cut (Redis's replication backlog, Kafka's retention by size).
//! 3. **Lag**: a member owed a line for more than [`LAG_LIMIT`] is cut (Kafka's
//!    retention by time, Redis's soft limit held for some seconds).
//! 4. **Hosts**: at most [`PER_HOST`] members from one host (an IPv4 address, an
//!    IPv6 /64); `srv --per-host N` raises it for a class behind one NAT.
//! 5. **Connects**: a host may connect that many times at once, then once every
//!    [`CONNECT_EVERY`] (IRC's connect-flood throttles).
//! 6. **Close**: a polite leaver gets what it is owed within [`DRAIN_TIME`] (the
//!    lingering close); a member cut, or a leaver out of time, is closed
//!    abortively, and the kernel frees its buffers at once.
//!
//! The room never waits for a reader: a reader is judged only by how far behind
//! the head it is, in bytes and in seconds, and a speaker is slowed only by its
//! own host's pace.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Rule 1: bytes a second the room's log may grow, shared by the hosts speaking.
pub const ROOM_RATE: u64 = 512 * 1024;
/// Rule 1: how far ahead of the clock a host's pace may run: a host that paused
/// may say this long's worth at once. A paste of 64 KiB of one-letter lines is
/// 1.2 MB once each line has its sender's name and colours: in a room of a
/// hundred, most of it goes at once, the rest within a second.
pub const BURST_TIME: Duration = Duration::from_secs(1);
/// Rule 2: a member further behind the head of the room's log is cut.
pub const LOG_LIMIT: u64 = 16 << 20;
/// Rule 3: a member owed a line for longer is cut.
pub const LAG_LIMIT: Duration = Duration::from_secs(10);
/// Rule 4: members from one host at once (`srv --per-host N` to change it).
pub const PER_HOST: usize = 16;
/// Rule 5: after a burst of `PER_HOST` connects, a host may connect once this often.
pub const CONNECT_EVERY: Duration = Duration::from_secs(1);
/// Rule 6: how long a polite leaver may take to receive what it is owed and to
/// close its side.
pub const DRAIN_TIME: Duration = Duration::from_secs(5);

// ANCHOR: pace
/// A pace, IRC's "fake lag": a timer that each use pushes ahead by its cost, and
/// that allows a use only while it is less than `burst` ahead of the clock. A
/// host that paused may spend `burst` at once; one that keeps going gets one
/// cost's worth per cost of time. (Network engineers know it as GCRA, the token
/// bucket in another form.)
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    ahead: Instant,
}

impl Pace {
    fn new(now: Instant) -> Pace {
        Pace { ahead: now }
    }

    fn allows(&self, now: Instant, burst: Duration) -> bool {
        self.ahead < now + burst
    }

    fn spend(&mut self, cost: Duration, now: Instant) {
        self.ahead = self.ahead.max(now) + cost;
    }

    /// When [`Pace::allows`] will hold again.
    fn allows_at(&self, burst: Duration) -> Instant {
        self.ahead.checked_sub(burst).unwrap_or(self.ahead)
    }
}
// ANCHOR_END: pace

/// Why a member is cut (rules 2 and 3), in words made from the constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Rule 2: this many bytes behind the head of the room's log.
    Behind(u64),
    /// Rule 3: owed a line for this long.
    Late(Duration),
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cut::Behind(bytes) => {
                write!(f, "{bytes} bytes behind the room, more than {} MiB", LOG_LIMIT >> 20)
            }
            Cut::Late(owed) => write!(
                f,
                "owed a line for {:.1} s, more than {} s",
                owed.as_secs_f64(),
                LAG_LIMIT.as_secs()
            ),
        }
    }
}

// ANCHOR: judge
/// Rules 2 and 3: whether to cut a member `behind` bytes behind the head of the
/// room's log, owed a line said at `owed_since` (`None`: owed nothing).
pub fn judge(behind: u64, owed_since: Option<Instant>, now: Instant) -> Option<Cut> {
    let owed = owed_since.map(|t| now.saturating_duration_since(t));
    if behind > LOG_LIMIT {
        Some(Cut::Behind(behind))
    } else {
        owed.filter(|&owed| owed > LAG_LIMIT).map(Cut::Late)
    }
}
// ANCHOR_END: judge

/// When [`judge`] may change its mind about a member owed a line said at
/// `owed_since`, with nothing else happening: for `select`'s time-out.
pub fn judged_again(owed_since: Option<Instant>) -> Option<Instant> {
    owed_since.map(|t| t + LAG_LIMIT + Duration::from_millis(1))
}

/// Why a connection is turned away (rules 4 and 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Rule 4: the host has this many members already.
    Crowded(usize),
    /// Rule 5: the host connects faster than once every `CONNECT_EVERY`.
    TooFast,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Crowded(n) => write!(f, "{n} members from its host already"),
            Refusal::TooFast => write!(
                f,
                "its host connects more often than once every {} s",
                CONNECT_EVERY.as_secs()
            ),
        }
    }
}

/// What the rules keep about one host.
#[derive(Debug)]
struct Host {
    members: usize,
    connects: Pace,
    speech: Pace,
}

// ANCHOR: hosts
/// Rules 1, 4 and 5: what each host may do.
///
/// Lifecycle: one per server; a host appears with its first connection and is
/// forgotten once it has no member and its paces have caught up with the clock.
#[derive(Debug)]
pub struct Hosts {
    per_host: usize,
    known: HashMap<IpAddr, Host>,
    /// Forget rested hosts once this many are known (amortised: it doubles).
    sweep_at: usize,
}
// ANCHOR_END: hosts

impl Hosts {
    /// No host known yet; at most `per_host` members from each (rule 4).
    pub fn new(per_host: usize) -> Hosts {
        Hosts { per_host: per_host.max(1), known: HashMap::new(), sweep_at: 64 }
    }

    /// Rules 4 and 5: may a connection from `ip` come in now? If so, it counts
    /// as a member of its host until [`Hosts::left`].
    pub fn admit(&mut self, ip: IpAddr, now: Instant) -> Result<(), Refusal> {
        self.sweep(now);
        let burst = CONNECT_EVERY * self.per_host as u32;
        let host = self.known.entry(host_of(ip)).or_insert(Host {
            members: 0,
            connects: Pace::new(now),
            speech: Pace::new(now),
        });
        if host.members >= self.per_host {
            return Err(Refusal::Crowded(host.members));
        }
        if !host.connects.allows(now, burst) {
            return Err(Refusal::TooFast);
        }
        host.connects.spend(CONNECT_EVERY, now);
        host.members += 1;
        Ok(())
    }

    /// A member from `ip` left.
    pub fn left(&mut self, ip: IpAddr) {
        if let Some(host) = self.known.get_mut(&host_of(ip)) {
            host.members = host.members.saturating_sub(1);
        }
    }

    /// Rule 1: may members from `ip` be read now?
    pub fn may_speak(&self, ip: IpAddr, now: Instant) -> bool {
        self.known.get(&host_of(ip)).is_none_or(|h| h.speech.allows(now, BURST_TIME))
    }

    /// Rule 1: a member from `ip` cost the room `bytes` (what it added to the
    /// log, or what it made the server read, whichever is more). Its host pays
    /// its share of the room's rate: the rate divided by the hosts speaking.
    pub fn said(&mut self, ip: IpAddr, bytes: usize, now: Instant) {
        let key = host_of(ip);
        let others = self.known.iter().filter(|(k, h)| **k != key && h.speech.ahead > now);
        let speakers = others.count() as u64 + 1;
        if let Some(host) = self.known.get_mut(&key) {
            let cost = Duration::from_micros(bytes as u64 * speakers * 1_000_000 / ROOM_RATE);
            host.speech.spend(cost, now);
        }
    }

    /// When members from `ip`, over their pace, may be read again (for `select`'s
    /// time-out); `None` if they may be now.
    pub fn speaks_again(&self, ip: IpAddr, now: Instant) -> Option<Instant> {
        let host = self.known.get(&host_of(ip))?;
        (!host.speech.allows(now, BURST_TIME)).then(|| host.speech.allows_at(BURST_TIME))
    }

    /// Forget the hosts with no member whose paces have caught up with the clock.
    fn sweep(&mut self, now: Instant) {
        if self.known.len() >= self.sweep_at {
            self.known
                .retain(|_, h| h.members > 0 || h.connects.ahead > now || h.speech.ahead > now);
            self.sweep_at = (2 * self.known.len()).max(64);
        }
    }
}

/// The host a peer's address belongs to: an IPv4 address (also when it comes
/// mapped into IPv6), or an IPv6 /64, the block one machine or one site gets.
pub fn host_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !0 << 64).into()),
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// Rule 1: a host that pasted is read again once its pace allows, and a quiet
    /// host beside it is never held back; alone, a flooder gets the room's rate.
    #[test]
    fn a_host_speaks_at_its_own_pace() {
        let t0 = Instant::now();
        let mut hosts = Hosts::new(PER_HOST);
        let (flooder, quiet) = (ip("10.0.0.1"), ip("10.0.0.2"));
        hosts.admit(flooder, t0).unwrap();
        hosts.admit(quiet, t0).unwrap();
        let rate = ROOM_RATE;
        // Half a second's worth: read on.
        hosts.said(flooder, (rate / 2) as usize, t0);
        assert!(hosts.may_speak(flooder, t0));
        assert_eq!(hosts.speaks_again(flooder, t0), None);
        // Past a second's worth: not read until the pace has taken back the rest.
        hosts.said(flooder, rate as usize, t0);
        assert!(!hosts.may_speak(flooder, t0));
        let again = hosts.speaks_again(flooder, t0).expect("a time to wait for");
        assert!(again.duration_since(t0).abs_diff(secs(0.5)) < secs(0.001), "{again:?}");
        assert!(hosts.may_speak(flooder, again + secs(0.001)));
        assert!(hosts.may_speak(quiet, t0), "the quiet host was never held back");
        // Sustained, a flooder alone gets the room's rate (and one burst).
        let said = flood(&mut hosts, &[flooder], again, 10.0)[0];
        assert!(said <= rate * 11 + 65_536 && said >= rate * 9, "{said} bytes in 10 s");
    }

    /// Every 10 ms, each of `who` that may speak says 64 KiB, for `secs`;
    /// returns what each said.
    fn flood(hosts: &mut Hosts, who: &[IpAddr], from: Instant, secs: f64) -> Vec<u64> {
        let mut said = vec![0; who.len()];
        let mut t = from;
        while t < from + Duration::from_secs_f64(secs) {
            for (i, &host) in who.iter().enumerate() {
                if hosts.may_speak(host, t) {
                    hosts.said(host, 65_536, t);
                    said[i] += 65_536;
                }
            }
            t += Duration::from_millis(10);
        }
        said
    }

    /// Rule 1: thirty hosts flooding together share the room's rate, about
    /// equally; all pasting at the same moment, they put a few seconds' worth in
    /// the log, so a reader that keeps up with the room's rate is not cut by rule
    /// 2. (Hundreds of hosts at once can: see the known limits in robustness.md.)
    #[test]
    fn many_hosts_share_the_rooms_rate() {
        let t0 = Instant::now();
        let mut hosts = Hosts::new(PER_HOST);
        let who: Vec<IpAddr> = (1..=30u32).map(|i| IpAddr::V4((0x0a00_0000 + i).into())).collect();
        who.iter().for_each(|&h| hosts.admit(h, t0).unwrap());
        let rate = ROOM_RATE;
        let first: u64 = flood(&mut hosts, &who, t0, 0.005).iter().sum();
        assert!(first < 5 * rate, "{first} bytes at once");
        let said = flood(&mut hosts, &who, t0 + secs(2.0), 10.0);
        let total: u64 = said.iter().sum();
        // The rate, and a few seconds' worth while all start again at once.
        assert!(total <= rate * 15 && total >= rate * 8, "{total} bytes in 10 s");
        let (least, most) = (said.iter().min().unwrap(), said.iter().max().unwrap());
        assert!(most - least <= total / 30 / 2 + 2 * 65_536, "{said:?}");
        assert!(LOG_LIMIT > (LAG_LIMIT.as_secs() + 5) * rate, "10 s behind fits in the log");
    }

    /// Rules 2 and 3: a member is judged by how far behind it is, in bytes and in
    /// seconds, and by nothing else; the cut says why in the constants' terms.
    #[test]
    fn a_member_is_judged_by_how_far_behind_it_is() {
        let t0 = Instant::now();
        assert_eq!(judge(LOG_LIMIT, Some(t0), t0 + LAG_LIMIT), None);
        assert_eq!(judge(LOG_LIMIT + 1, Some(t0), t0), Some(Cut::Behind(LOG_LIMIT + 1)));
        let late = t0 + LAG_LIMIT + secs(0.5);
        assert_eq!(judge(10, Some(t0), late), Some(Cut::Late(LAG_LIMIT + secs(0.5))));
        // Owed nothing: never cut, however long it has been silent.
        assert_eq!(judge(0, None, late), None);
        // The next look is just after the lag limit.
        let next = judged_again(Some(t0)).expect("a deadline");
        assert_eq!(judge(10, Some(t0), next), Some(Cut::Late(next - t0)));
        assert_eq!(
            Cut::Behind(17_000_000).to_string(),
            format!("17000000 bytes behind the room, more than {} MiB", LOG_LIMIT >> 20)
        );
        assert!(
            Cut::Late(secs(12.0))
                .to_string()
                .contains(&format!("more than {} s", LAG_LIMIT.as_secs()))
        );
    }

    /// Rule 4: one host cannot take the room's slots; another host still gets in,
    /// and a place freed is taken again.
    #[test]
    fn one_host_cannot_take_every_slot() {
        let t0 = Instant::now();
        let mut hosts = Hosts::new(3);
        let attacker = ip("127.0.0.1");
        for _ in 0..3 {
            hosts.admit(attacker, t0).unwrap();
        }
        assert_eq!(hosts.admit(attacker, t0), Err(Refusal::Crowded(3)));
        assert_eq!(hosts.admit(ip("127.0.0.2"), t0), Ok(()));
        hosts.left(attacker);
        assert_eq!(hosts.admit(attacker, t0 + secs(3.0)), Ok(()));
        // One IPv6 /64 is one host; an IPv4 client of a dual-stack server is its
        // IPv4 address.
        assert_eq!(host_of(ip("2001:db8::1")), host_of(ip("2001:db8::ffff:1")));
        assert_ne!(host_of(ip("2001:db8::1")), host_of(ip("2001:db8:0:1::1")));
        assert_eq!(host_of(ip("::ffff:127.0.0.1")), attacker);
    }

    /// Rule 5: a host that connects and leaves in a loop gets `PER_HOST` connects
    /// at once, then one every `CONNECT_EVERY`.
    #[test]
    fn a_connect_loop_is_throttled() {
        let t0 = Instant::now();
        let mut hosts = Hosts::new(PER_HOST);
        let looper = ip("192.0.2.7");
        let mut admitted = 0;
        let mut t = t0;
        while t < t0 + secs(10.0) {
            if hosts.admit(looper, t).is_ok() {
                admitted += 1;
                hosts.left(looper);
            }
            t += secs(0.001);
        }
        assert!((PER_HOST + 9..=PER_HOST + 11).contains(&admitted), "{admitted} in 10 s");
        assert_eq!(hosts.admit(looper, t), Err(Refusal::TooFast));
    }

    /// Hosts that left and rested are forgotten: the table does not grow with
    /// every address that ever connected.
    #[test]
    fn rested_hosts_are_forgotten() {
        let t0 = Instant::now();
        let mut hosts = Hosts::new(PER_HOST);
        for i in 0..10_000u32 {
            let addr = IpAddr::V4(i.into());
            let t = t0 + secs(f64::from(i) * 0.01);
            hosts.admit(addr, t).unwrap();
            hosts.left(addr);
        }
        assert!(hosts.known.len() < 2_000, "{} hosts kept", hosts.known.len());
    }
}
