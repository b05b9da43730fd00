//! The command lines of `srv` and `cli`: `<host> <port>`, as in the report's `main()`.
//!
//! The report reads `sys.argv[1]` and `int(sys.argv[2])` and prints a usage line
//! when there are fewer than two; a port that is not a number ends in a Python
//! traceback. Here every mistake gets one line that names it, the usage, and
//! exit status 2; `--help` and `--version` are answered on stdout.

use std::ffi::OsString;

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
}

/// The usage line of `prog`.
pub fn usage(prog: &str) -> String {
    format!("usage: {prog} [--no-color] [--trace] <host> <port>")
}

/// Parse the arguments after the program name. `port_zero` says whether port 0
/// is allowed (for `srv`, not for `cli`).
///
/// # Errors
/// A one-line description of the first mistake: an unknown option, a missing or
/// extra argument, a port that is not a number from 0 (or 1) to 65535.
pub fn parse(args: impl IntoIterator<Item = OsString>, port_zero: bool) -> Result<Command, String> {
    let mut positional = Vec::new();
    let mut no_color = false;
    let mut trace = false;
    let mut options_done = false;
    for arg in args {
        let arg = arg
            .into_string()
            .map_err(|a| format!("argument {a:?} is not valid UTF-8"))?;
        match arg.as_str() {
            "--help" | "-h" if !options_done => return Ok(Command::Help),
            "--version" | "-V" if !options_done => return Ok(Command::Version),
            "--no-color" | "--no-colour" if !options_done => no_color = true,
            "--trace" if !options_done => trace = true,
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
    let lowest = if port_zero { 0 } else { 1 };
    let port = match port.parse::<u16>() {
        Ok(p) if p >= lowest => p,
        _ => {
            return Err(format!(
                "invalid port '{port}' (expected a number from {lowest} to 65535)"
            ));
        }
    };
    Ok(Command::Run(Args {
        host,
        port,
        no_color,
        trace,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str], zero: bool) -> Result<Command, String> {
        parse(args.iter().map(OsString::from), zero)
    }

    #[test]
    fn host_and_port() {
        let want = Command::Run(Args {
            host: "::1".into(),
            port: 7777,
            no_color: false,
            trace: false,
        });
        assert_eq!(p(&["::1", "7777"], false), Ok(want));
        let want = Command::Run(Args {
            host: "0.0.0.0".into(),
            port: 0,
            no_color: true,
            trace: true,
        });
        assert_eq!(
            p(&["--no-color", "--trace", "0.0.0.0", "0"], true),
            Ok(want)
        );
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(p(&[], true), Err("missing <host> and <port>".into()));
        assert_eq!(p(&["h"], true), Err("missing <port>".into()));
        assert!(p(&["h", "1", "x"], true).unwrap_err().contains("'x'"));
        assert!(
            p(&["h", "http"], true)
                .unwrap_err()
                .contains("invalid port 'http'")
        );
        assert!(
            p(&["h", "70000"], true)
                .unwrap_err()
                .contains("invalid port")
        );
        assert!(
            p(&["h", "0"], false)
                .unwrap_err()
                .contains("from 1 to 65535")
        );
        assert_eq!(
            p(&["-x", "h", "1"], true),
            Err("unknown option '-x'".into())
        );
    }

    #[test]
    fn help_and_version() {
        assert_eq!(p(&["h", "--help"], true), Ok(Command::Help));
        assert_eq!(p(&["-V"], true), Ok(Command::Version));
    }
}
