//! Splitting input into words and options, the way zkCli.sh does.
//!
//! Three layers, all pure:
//! - [`GlobalOptions::parse`]: `-server`, `-timeout`, `-r` before the command on
//!   the `rill zk` command line (zkCli's `MyCommandOptions.parseOptions`).
//! - [`tokenize`]: a shell line into words, honouring `'...'` and `"..."`
//!   (zkCli's `parseCommand` regex), so `set /a "hello world"` works.
//! - [`parse_options`]: a command's own flags, with the Apache commons-cli
//!   `DefaultParser` rules zkCli commands use: options may come before or after
//!   the path, flags may be bundled (`-sw`), values may be attached (`-v3`), and
//!   `--` ends option parsing.

/// zkCli's default server and session timeout.
pub const DEFAULT_SERVER: &str = "localhost:2181";
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// What came before (and including) the command on the `rill zk` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalOptions {
    pub server: String,
    pub timeout_ms: u64,
    pub readonly: bool,
    /// `-h`/`--help`/`-help`: print usage and exit (zkCli ignores these; we'd
    /// rather answer them than open a shell).
    pub help: bool,
    /// The command and its arguments; empty means "start the shell".
    pub command: Vec<String>,
}

impl GlobalOptions {
    /// Parses the raw arguments. Like zkCli, unknown dash options before the
    /// command are ignored and everything from the first non-option word on is
    /// the command.
    pub fn parse(args: &[String]) -> Result<GlobalOptions, String> {
        let mut opts = GlobalOptions {
            server: DEFAULT_SERVER.to_owned(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            readonly: false,
            help: false,
            command: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("Error: no argument found for option {arg}"))
            };
            match arg.as_str() {
                "-server" => opts.server = value()?,
                "-timeout" => {
                    let raw = value()?;
                    opts.timeout_ms = raw
                        .parse::<u64>()
                        .ok()
                        .filter(|ms| *ms > 0)
                        .ok_or_else(|| format!("Error: -timeout must be a positive number of milliseconds, got {raw}"))?;
                }
                // zkCli accepts a client properties file; nothing in it applies
                // to us, but the option must not swallow the command.
                "-client-configuration" => {
                    value()?;
                }
                "-r" => opts.readonly = true,
                "-h" | "-help" | "--help" => opts.help = true,
                other if other.starts_with('-') => {}
                _ => {
                    opts.command.push(arg.clone());
                    opts.command.extend(it.cloned());
                    break;
                }
            }
        }
        Ok(opts)
    }
}

/// Splits a shell line into words. A word starting with a quote runs to the
/// matching quote (which is removed) and may contain spaces; `""` is an empty
/// word. A quote that is never closed is dropped, as zkCli's regex skips it.
pub fn tokenize(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        let first = rest.chars().next().unwrap_or(' ');
        if first == '"' || first == '\'' {
            match rest[1..].find(first) {
                Some(end) => {
                    words.push(rest[1..1 + end].to_owned());
                    rest = &rest[end + 2..];
                }
                None => rest = &rest[1..],
            }
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            words.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
        rest = rest.trim_start();
    }
    words
}

/// One option a command accepts: `-c` and whether it takes a value.
#[derive(Debug, Clone, Copy)]
pub struct OptSpec {
    pub name: char,
    pub takes_value: bool,
}

pub const fn flag(name: char) -> OptSpec {
    OptSpec {
        name,
        takes_value: false,
    }
}

pub const fn valued(name: char) -> OptSpec {
    OptSpec {
        name,
        takes_value: true,
    }
}

/// A command's parsed options; the positional words are returned separately.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Opts {
    flags: Vec<char>,
    values: Vec<(char, String)>,
}

impl Opts {
    pub fn has(&self, name: char) -> bool {
        self.flags.contains(&name) || self.values.iter().any(|(n, _)| *n == name)
    }

    /// The first value given for `name` (commons-cli's `getOptionValue`).
    pub fn value(&self, name: char) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Separates a command's options from its positional words (the command name
/// itself must not be in `args`). Errors carry commons-cli's messages, which
/// zkCli prints verbatim.
pub fn parse_options(spec: &[OptSpec], args: &[String]) -> Result<(Opts, Vec<String>), String> {
    let find = |c: char| spec.iter().find(|o| o.name == c);
    // commons-cli takes the next word as an option's value unless that word
    // looks like one of the command's own options (negative numbers are values).
    let looks_like_option = |tok: &str| {
        tok.len() > 1
            && tok.starts_with('-')
            && tok.parse::<f64>().is_err()
            && tok[1..].chars().next().is_some_and(|c| find(c).is_some())
    };
    let mut opts = Opts::default();
    let mut positional = Vec::new();
    let mut pending: Option<char> = None;
    let mut only_positional = false;
    for tok in args {
        if only_positional {
            positional.push(tok.clone());
            continue;
        }
        if let Some(name) = pending.take() {
            if looks_like_option(tok) {
                return Err(missing_argument(name));
            }
            opts.values.push((name, tok.clone()));
            continue;
        }
        if tok == "--" {
            only_positional = true;
            continue;
        }
        if tok.len() < 2 || !tok.starts_with('-') {
            positional.push(tok.clone());
            continue;
        }
        if tok.starts_with("--") {
            return Err(unrecognized(tok));
        }
        let body = &tok[1..];
        // `-v=3`: an option with an attached value.
        if let Some((name, value)) = body.split_once('=') {
            let mut chars = name.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                if find(c).is_some_and(|o| o.takes_value) {
                    opts.values.push((c, value.to_owned()));
                    continue;
                }
            }
        }
        // `-s`, `-sw`, `-v3`, `-sv3`.
        for (i, c) in body.char_indices() {
            let Some(option) = find(c) else {
                return Err(unrecognized(tok));
            };
            if option.takes_value {
                let attached = &body[i + c.len_utf8()..];
                if attached.is_empty() {
                    pending = Some(c);
                } else {
                    opts.values.push((c, attached.to_owned()));
                }
                break;
            }
            opts.flags.push(c);
        }
    }
    if let Some(name) = pending {
        return Err(missing_argument(name));
    }
    Ok((opts, positional))
}

fn unrecognized(tok: &str) -> String {
    format!("org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: {tok}")
}

fn missing_argument(name: char) -> String {
    format!("org.apache.commons.cli.MissingArgumentException: Missing argument for option: {name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn global_options_defaults_and_command() {
        let opts = GlobalOptions::parse(&[]).unwrap();
        assert_eq!(opts.server, "localhost:2181");
        assert_eq!(opts.timeout_ms, 30_000);
        assert!(opts.command.is_empty());

        let opts = GlobalOptions::parse(&strings(&[
            "-server",
            "h1:1,h2:2",
            "-timeout",
            "5000",
            "-r",
            "-weird",
            "ls",
            "-s",
            "/",
        ]))
        .unwrap();
        assert_eq!(opts.server, "h1:1,h2:2");
        assert_eq!(opts.timeout_ms, 5000);
        assert!(opts.readonly);
        assert_eq!(opts.command, strings(&["ls", "-s", "/"]));
    }

    #[test]
    fn global_options_errors() {
        assert_eq!(
            GlobalOptions::parse(&strings(&["-server"])),
            Err("Error: no argument found for option -server".into())
        );
        assert!(GlobalOptions::parse(&strings(&["-timeout", "soon"])).is_err());
        assert!(GlobalOptions::parse(&strings(&["--help"])).unwrap().help);
    }

    #[test]
    fn tokenize_handles_quotes() {
        assert_eq!(tokenize("  ls   -s /a  "), strings(&["ls", "-s", "/a"]));
        assert_eq!(
            tokenize("set /a \"hello world\""),
            strings(&["set", "/a", "hello world"])
        );
        assert_eq!(
            tokenize("set /a 'x \"y\"' z"),
            strings(&["set", "/a", "x \"y\"", "z"])
        );
        assert_eq!(tokenize("create /a \"\""), strings(&["create", "/a", ""]));
        assert_eq!(tokenize("set /a \"open"), strings(&["set", "/a", "open"]));
        assert_eq!(
            tokenize("set /a b\"c d\""),
            strings(&["set", "/a", "b\"c", "d\""])
        );
        assert!(tokenize("   ").is_empty());
    }

    const SPEC: [OptSpec; 3] = [flag('s'), flag('w'), valued('v')];

    #[test]
    fn options_anywhere_bundled_and_attached() {
        let (opts, pos) = parse_options(&SPEC, &strings(&["/a", "-sw", "-v3", "data"])).unwrap();
        assert!(opts.has('s') && opts.has('w'));
        assert_eq!(opts.value('v'), Some("3"));
        assert_eq!(pos, strings(&["/a", "data"]));

        let (opts, pos) = parse_options(&SPEC, &strings(&["-v", "-1", "/a"])).unwrap();
        assert_eq!(opts.value('v'), Some("-1"));
        assert_eq!(pos, strings(&["/a"]));

        let (opts, _) = parse_options(&SPEC, &strings(&["-v=7", "/a"])).unwrap();
        assert_eq!(opts.value('v'), Some("7"));

        let (opts, pos) = parse_options(&SPEC, &strings(&["--", "-s", "-"])).unwrap();
        assert!(!opts.has('s'));
        assert_eq!(pos, strings(&["-s", "-"]));
    }

    #[test]
    fn option_errors_use_commons_cli_messages() {
        assert_eq!(
            parse_options(&SPEC, &strings(&["-x", "/a"])),
            Err(
                "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -x"
                    .into()
            )
        );
        assert_eq!(
            parse_options(&SPEC, &strings(&["-sx"])),
            Err(
                "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -sx"
                    .into()
            )
        );
        assert_eq!(
            parse_options(&SPEC, &strings(&["/a", "-v"])),
            Err(
                "org.apache.commons.cli.MissingArgumentException: Missing argument for option: v"
                    .into()
            )
        );
        assert_eq!(
            parse_options(&SPEC, &strings(&["-v", "-s", "/a"])),
            Err(
                "org.apache.commons.cli.MissingArgumentException: Missing argument for option: v"
                    .into()
            )
        );
    }
}
