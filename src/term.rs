//! The terminal in raw mode, for the client's line editor: `tcgetattr`,
//! `tcsetattr`, and the window size (`ioctl(TIOCGWINSZ)`).
//!
//! Not in the report. Its client leaves the terminal in its usual "canonical"
//! mode: the kernel keeps the line being typed, echoes it, and hands it over only
//! at Enter. The program cannot read that line back, so when a message arrives,
//! the report's `\r` and reprint cannot redraw what the user was typing: it is
//! overwritten on the screen (though still sent at Enter). In raw mode the kernel
//! hands over each key at once and echoes nothing; the program keeps the line
//! itself ([`crate::editor`]) and can redraw it under every message.
//!
//! What raw mode changes here (the choices of linenoise and smallchat's client):
//! no canonical mode and no echo (`ICANON`, `ECHO`); no signals from keys (`ISIG`:
//! Ctrl+C, Ctrl+Z arrive as bytes, handled as keys); no Ctrl+S/Ctrl+Q flow control
//! (`IXON`), so no key can freeze the screen; Enter arrives as `\r` (`ICRNL` off);
//! `VMIN` 1, `VTIME` 0: a `read` returns as soon as one byte is there. Output
//! processing (`OPOST`) stays on, so `\n` still moves to the start of the next row.
//!
//! Lifecycle: [`Raw::enter`] saves the settings and switches; dropping the
//! [`Raw`] (on any way out, a panic included, since unwinding drops it) puts them
//! back; [`Raw::leave`] and [`Raw::resume`] bracket a suspension (Ctrl+Z, `fg`).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::sys::termios::{
    InputFlags, LocalFlags, SetArg, SpecialCharacterIndices, Termios, tcgetattr, tcsetattr,
};

use crate::trace::{Shown, Traced};

nix::ioctl_read_bad!(
    /// `ioctl(fd, TIOCGWINSZ, &winsize)`: the terminal's size in rows and columns.
    tiocgwinsz,
    libc::TIOCGWINSZ,
    libc::winsize
);

/// The terminal on stdin, in raw mode while this lives.
pub struct Raw {
    fd: BorrowedFd<'static>,
    /// The settings found at start, put back on every way out.
    saved: Termios,
    /// The settings of raw mode.
    raw: Termios,
}

impl Raw {
    /// `tcgetattr(0)`, then `tcsetattr(0, TCSANOW, raw)` (`TCSANOW`, not
    /// `TCSAFLUSH`: keys typed before the connection was made are kept).
    ///
    /// # Errors
    /// `ENOTTY` (stdin is not a terminal), `EIO`.
    ///
    /// # References
    /// [termios(3)](https://man7.org/linux/man-pages/man3/termios.3.html)
    // ANCHOR: raw_mode
    pub fn enter() -> nix::Result<Raw> {
        // SAFETY: fd 0 is open for the whole life of the process.
        let fd = unsafe { BorrowedFd::borrow_raw(0) };
        let saved = tcgetattr(fd).map(Settings).traced(|| "tcgetattr(0)".into())?.0;
        let mut raw = saved.clone();
        raw.local_flags &=
            !(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG | LocalFlags::IEXTEN);
        raw.input_flags &=
            !(InputFlags::IXON | InputFlags::ICRNL | InputFlags::BRKINT | InputFlags::ISTRIP);
        raw.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
        raw.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
        let term = Raw { fd, saved, raw };
        term.resume()?;
        Ok(term)
    }
    // ANCHOR_END: raw_mode

    /// Switch (back) to raw mode: at start, and after a suspension (`fg`).
    ///
    /// # Errors
    /// `EIO` (the terminal went away), `EINTR`.
    pub fn resume(&self) -> nix::Result<()> {
        tcsetattr(self.fd, SetArg::TCSANOW, &self.raw)
            .traced(|| "tcsetattr(0, TCSANOW, raw)".into())
    }

    /// Put the saved settings back: before a suspension (Ctrl+Z) and on the way out
    /// (`TCSANOW`: `TCSADRAIN` would wait for a terminal that may not drain).
    ///
    /// # Errors
    /// `EIO` (the terminal went away), `EINTR`.
    pub fn leave(&self) -> nix::Result<()> {
        tcsetattr(self.fd, SetArg::TCSANOW, &self.saved)
            .traced(|| "tcsetattr(0, TCSANOW, saved)".into())
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        let _ = self.leave();
    }
}

/// The terminal's width in columns, from `ioctl(fd, TIOCGWINSZ)` (80 if unknown).
///
/// # References
/// [ioctl_tty(2)](https://man7.org/linux/man-pages/man2/ioctl_tty.2.html) (`TIOCGWINSZ`)
pub fn columns(fd: impl AsFd) -> usize {
    let raw = fd.as_fd().as_raw_fd();
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one winsize into the valid struct above.
    let got = unsafe { tiocgwinsz(raw, &mut size) }
        .map(|_| Columns(size.ws_col))
        .traced(|| format!("ioctl({raw}, TIOCGWINSZ)"));
    match got {
        Ok(Columns(cols)) if cols > 0 => usize::from(cols),
        _ => 80,
    }
}

/// The settings `tcgetattr` read, shown as `0` in a trace line.
struct Settings(Termios);

impl Shown for Settings {
    fn show(&self, out: &mut String) {
        out.push('0');
    }
}

/// The width `TIOCGWINSZ` read: `0  80 columns`.
struct Columns(u16);

impl Shown for Columns {
    fn show(&self, out: &mut String) {
        out.push_str(&format!("0  {} columns", self.0));
    }
}
