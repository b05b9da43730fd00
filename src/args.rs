//! The command lines of `srv` and `cli`: `<host> <port>`, as in the report's `main()`,
//! and what both programs do before their loop starts ([`start`]) and when they
//! must stop on an error ([`fail`]).
//!
//! The report reads `sys.argv[1]` and `int(sys.argv[2])` and prints a usage line
//! when there are fewer than two; a port that is not a number ends in a Python
//! traceback. Here every mistake gets one line that names it, the usage, and
//! exit status 2; `--help` and `--version` are answered on stdout.

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use crate::{stdio, trace};

/// Which program is starting: they share their command line, except that only
/// `srv` takes port 0 (the kernel picks a free one) and only `cli` has an editor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// The server, `srv`.
    Srv,
    /// The client, `cli`.
    Cli,
}

impl Program {
    /// `srv` or `cli`.
    pub fn name(self) -> &'static str {
        match self {
            Program::Srv => "srv",
            Program::Cli => "cli",
        }
    }

    /// The usage line.
    pub fn usage(self) -> String {
        let own = match self {
            Program::Srv => " [--per-host N]",
            Program::Cli => " [--no-editor]",
        };
        format!("usage: {} [--no-color] [--trace]{own} <host> <port>", self.name())
    }

    fn about(self) -> &'static str {
        match self {
            Program::Srv => {
                "\
A TCP chat room on select(2): relays each line a client sends to every other client.
Clients: cli, nc or telnet. An empty line leaves the room. Port 0 picks a free port.

Options:
  --no-color    send and print plain text (also when NO_COLOR is set)
  --trace       print every system call on stderr (also SELECT_CHAT_TRACE=1)
  --per-host N  let N members come from one address at once (default 16);
                raise it for a class behind one NAT
  -h, --help    show this help
  -V, --version show the version"
            }
            Program::Cli => {
                "\
Chat client for srv (or the report's srv.py). Lines you type go to everyone else;
an empty line, Ctrl+D or Ctrl+C leaves.

Options:
  --no-color    plain text (also when NO_COLOR is set or stdout is not a terminal)
  --trace       print every system call on stderr (also SELECT_CHAT_TRACE=1)
  --no-editor   on a terminal, let the terminal edit the line, as the report does
  -h, --help    show this help
  -V, --version show the version"
            }
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run with these arguments.
    Run(Args),
    /// `--help` or `-h`.
    Help,
    /// `--version` or `-V`.
    Version,
}

/// The arguments of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// Address or name to bind (`srv`) or to connect to (`cli`).
    pub host: String,
    /// TCP port; `srv` accepts 0 (the kernel picks one, and the start line says which).
    pub port: u16,
    /// `--no-color`: plain text, as with `NO_COLOR`.
    pub no_color: bool,
    /// `--trace`: print every system call on stderr (see [`crate::trace`]).
    pub trace: bool,
    /// `--no-editor` (`cli` only): read stdin as the report does, even on a terminal.
    pub no_editor: bool,
    /// `--per-host N` (`srv` only): members from one host at once (rule 4 of
    /// [`crate::policy`]).
    pub per_host: usize,
}

/// Parse the arguments of `program` after its name.
///
/// # Errors
/// A one-line description of the first mistake: an unknown option, a missing or
/// extra argument, a port that is not a number from 0 (or 1) to 65535.
pub fn parse(
    program: Program,
    args: impl IntoIterator<Item = OsString>,
) -> Result<Command, String> {
    let mut positional = Vec::new();
    let (mut no_color, mut trace, mut no_editor) = (false, false, false);
    let mut options_done = false;
    let mut per_host = crate::policy::PER_HOST;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg.into_string().map_err(|a| format!("argument {a:?} is not valid UTF-8"))?;
        match arg.as_str() {
            "--per-host" if !options_done && program == Program::Srv => {
                let n = args.next().and_then(|n| n.into_string().ok()).unwrap_or_default();
                per_host = match n.parse() {
                    Ok(n) if n > 0 => n,
                    _ => {
                        return Err(format!("invalid --per-host '{n}' (expected a number from 1)"));
                    }
                };
            }
            "--help" | "-h" if !options_done => return Ok(Command::Help),
            "--version" | "-V" if !options_done => return Ok(Command::Version),
            "--no-color" | "--no-colour" if !options_done => no_color = true,
            "--trace" if !options_done => trace = true,
            "--no-editor" if !options_done && program == Program::Cli => no_editor = true,
            "--" if !options_done => options_done = true,
            a if a.starts_with('-') && a.len() > 1 && !options_done => {
                return Err(format!("unknown option '{a}'"));
            }
            _ => positional.push(arg),
        }
    }
    let [host, port] = <[String; 2]>::try_from(positional).map_err(|p| match p.len() {
        0 => "missing <host> and <port>".to_string(),
        1 => "missing <port>".to_string(),
        _ => format!("too many arguments ('{}' is one too many)", p[2]),
    })?;
    if host.is_empty() {
        return Err("<host> is empty".to_string());
    }
    let lowest = if program == Program::Srv { 0 } else { 1 };
    let port = match port.parse::<u16>() {
        Ok(p) if p >= lowest => p,
        _ => {
            return Err(format!(
                "invalid port '{port}' (expected a number from {lowest} to 65535)"
            ));
        }
    };
    Ok(Command::Run(Args { host, port, no_color, trace, no_editor, per_host }))
}

/// What both programs do first: read the command line (answering `--help` and
/// `--version`, or naming a mistake, with the usage and exit status 2), turn on
/// `--trace`, and give stdout and stderr file descriptions of their own
/// ([`stdio::init`]). `Err` carries the exit status when there is nothing to run.
pub fn start(program: Program) -> Result<Args, ExitCode> {
    let args = match parse(program, std::env::args_os().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            let _ = writeln!(io::stdout(), "{}\n\n{}", program.usage(), program.about());
            return Err(ExitCode::SUCCESS);
        }
        Ok(Command::Version) => {
            let _ = writeln!(io::stdout(), "{} {}", program.name(), env!("CARGO_PKG_VERSION"));
            return Err(ExitCode::SUCCESS);
        }
        Err(msg) => {
            stdio::init(program.name());
            stdio::log(format_args!("{msg}\n{}", program.usage()));
            return Err(ExitCode::from(2));
        }
    };
    if args.trace || trace::wanted_by_env() {
        let colour = crate::fd::isatty(io::stderr()) && !crate::texts::no_color_env();
        trace::enable(stdio::log_bytes, colour);
    }
    stdio::init(program.name());
    Ok(args)
}

/// One line on stderr (`srv: cannot listen on ...`), then exit status 1.
pub fn fail(e: io::Error) -> ExitCode {
    stdio::log(format_args!("{e}"));
    stdio::log_finish(Duration::from_millis(250));
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(program: Program, args: &[&str]) -> Result<Command, String> {
        parse(program, args.iter().map(OsString::from))
    }

    #[test]
    fn host_and_port() {
        let want = Command::Run(Args {
            host: "::1".into(),
            port: 7777,
            no_color: false,
            trace: false,
            no_editor: false,
            per_host: crate::policy::PER_HOST,
        });
        assert_eq!(p(Program::Cli, &["::1", "7777"]), Ok(want));
        let want = Command::Run(Args {
            host: "0.0.0.0".into(),
            port: 0,
            no_color: true,
            trace: true,
            no_editor: false,
            per_host: 40,
        });
        assert_eq!(
            p(Program::Srv, &["--no-color", "--trace", "--per-host", "40", "0.0.0.0", "0"]),
            Ok(want)
        );
        assert!(p(Program::Srv, &["--per-host", "0", "h", "1"]).is_err());
        assert!(p(Program::Cli, &["--per-host", "3", "h", "1"]).is_err());
    }

    #[test]
    fn mistakes_are_named() {
        let srv = Program::Srv;
        assert_eq!(p(srv, &[]), Err("missing <host> and <port>".into()));
        assert_eq!(p(srv, &["h"]), Err("missing <port>".into()));
        assert!(p(srv, &["h", "1", "x"]).unwrap_err().contains("'x'"));
        assert!(p(srv, &["h", "http"]).unwrap_err().contains("invalid port 'http'"));
        assert!(p(srv, &["h", "70000"]).unwrap_err().contains("invalid port"));
        assert!(p(Program::Cli, &["h", "0"]).unwrap_err().contains("from 1 to 65535"));
        assert_eq!(p(srv, &["-x", "h", "1"]), Err("unknown option '-x'".into()));
        assert_eq!(p(srv, &["--no-editor", "h", "1"]), Err("unknown option '--no-editor'".into()));
    }

    #[test]
    fn help_and_version() {
        assert_eq!(p(Program::Srv, &["h", "--help"]), Ok(Command::Help));
        assert_eq!(p(Program::Cli, &["-V"]), Ok(Command::Version));
    }
}
