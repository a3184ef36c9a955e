//! zkCli commands: their usage strings and a pure parser from words to a
//! [`Command`]. Everything that can be checked without a server (option
//! syntax, numbers, ACL text, path syntax) is checked here, in the order zkCli
//! checks it, so the first error a user sees is the one zkCli would show.

use zookeeper_client::Acl;

use super::acl::parse_acl;
use super::args::{flag, parse_options, valued, OptSpec, Opts};
use super::error::CliError;
use super::path::validate_path;

/// Commands and their argument synopsis, sorted, as `help` prints them.
pub const COMMANDS: &[(&str, &str)] = &[
    (
        "addWatch",
        "[-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE",
    ),
    ("addauth", "scheme auth"),
    ("close", ""),
    ("connect", "host:port"),
    ("create", "[-s] [-e] [-c] [-t ttl] path [data] [acl]"),
    ("delete", "[-v version] path"),
    ("deleteall", "path [-b batch size]"),
    ("get", "[-s] [-w] path"),
    ("getAcl", "[-s] path"),
    ("getAllChildrenNumber", "path"),
    ("getEphemerals", "path"),
    ("help", ""),
    ("history", ""),
    ("ls", "[-s] [-w] [-R] path"),
    ("printwatches", "on|off"),
    ("quit", ""),
    ("redo", "cmdno"),
    ("set", "[-s] [-v version] path data"),
    ("setAcl", "[-s] [-v version] [-R] path acl"),
    ("stat", "[-w] path"),
    ("sync", "path"),
    ("version", ""),
    ("whoami", ""),
];

/// The usage text zkCli prints for `help` and unknown commands.
pub fn usage_text() -> String {
    let mut text =
        String::from("ZooKeeper -server host:port[,host:port...] [-timeout ms] [-r] cmd args\n");
    for (name, synopsis) in COMMANDS {
        text.push_str(&format!("\t{name} {synopsis}\n"));
    }
    text
}

/// `name synopsis`, the message zkCli gives for a command used wrongly.
fn usage_of(name: &str) -> CliError {
    let synopsis = COMMANDS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, s)| s);
    CliError::usage(format!("{name} {synopsis}"))
}

/// How `create` makes the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateKind {
    Persistent,
    PersistentSequential,
    Ephemeral,
    EphemeralSequential,
    Container,
}

impl CreateKind {
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateKind::PersistentSequential | CreateKind::EphemeralSequential
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ls {
        path: String,
        stat: bool,
        watch: bool,
        recursive: bool,
    },
    Get {
        path: String,
        stat: bool,
        watch: bool,
    },
    Stat {
        path: String,
        watch: bool,
    },
    Create {
        path: String,
        kind: CreateKind,
        ttl: Option<i64>,
        data: Vec<u8>,
        acl: Option<Vec<Acl>>,
    },
    Set {
        path: String,
        data: Vec<u8>,
        version: Option<i32>,
        stat: bool,
    },
    Delete {
        path: String,
        version: Option<i32>,
    },
    DeleteAll {
        path: String,
    },
    GetAcl {
        path: String,
        stat: bool,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: Option<i32>,
        stat: bool,
        recursive: bool,
    },
    AddAuth {
        scheme: String,
        auth: Vec<u8>,
    },
    AddWatch {
        path: String,
        recursive: bool,
    },
    Sync {
        path: String,
    },
    WhoAmI,
    GetEphemerals {
        path: String,
    },
    GetAllChildrenNumber {
        path: String,
    },
    Connect {
        server: Option<String>,
    },
    Close,
    History,
    Redo {
        index: usize,
    },
    PrintWatches {
        on: Option<bool>,
    },
    Version,
    Help,
    Quit,
}

impl Command {
    /// Commands that only touch the shell itself and work without a session.
    pub fn is_local(&self) -> bool {
        matches!(
            self,
            Command::Connect { .. }
                | Command::Close
                | Command::History
                | Command::Redo { .. }
                | Command::PrintWatches { .. }
                | Command::Version
                | Command::Help
                | Command::Quit
        )
    }

    /// The znode the command is about, for error messages.
    pub fn path(&self) -> Option<&str> {
        match self {
            Command::Ls { path, .. }
            | Command::Get { path, .. }
            | Command::Stat { path, .. }
            | Command::Create { path, .. }
            | Command::Set { path, .. }
            | Command::Delete { path, .. }
            | Command::DeleteAll { path }
            | Command::GetAcl { path, .. }
            | Command::SetAcl { path, .. }
            | Command::AddWatch { path, .. }
            | Command::Sync { path }
            | Command::GetEphemerals { path }
            | Command::GetAllChildrenNumber { path } => Some(path),
            _ => None,
        }
    }
}

/// A parsed command plus what zkCli would print to stderr while parsing it
/// (deprecation notes, skipped ACL entries); the command still runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub command: Command,
    pub warnings: Vec<String>,
}

/// Parses `words` (command name first).
pub fn parse_command(words: &[String]) -> Result<Parsed, CliError> {
    let Some((name, args)) = words.split_first() else {
        return Err(CliError::usage("No command entered"));
    };
    let mut warnings = Vec::new();
    let command = match name.as_str() {
        "ls" => parse_ls(args, &mut warnings)?,
        "get" => parse_get(args, &mut warnings)?,
        "stat" => parse_stat(args, &mut warnings)?,
        "create" => parse_create(args, &mut warnings)?,
        "set" => parse_set(args)?,
        "delete" => parse_delete(args, &mut warnings)?,
        "deleteall" => parse_deleteall(args)?,
        "getAcl" => {
            let (opts, pos) = options(&[flag('s')], args)?;
            Command::GetAcl {
                path: path_arg("getAcl", &pos)?,
                stat: opts.has('s'),
            }
        }
        "setAcl" => parse_set_acl(args, &mut warnings)?,
        "addauth" => {
            let (_, pos) = options(&[], args)?;
            let scheme = pos.first().ok_or_else(|| usage_of("addauth"))?.clone();
            let auth = pos
                .get(1)
                .map(|a| a.as_bytes().to_vec())
                .unwrap_or_default();
            Command::AddAuth { scheme, auth }
        }
        "addWatch" => parse_add_watch(args)?,
        "sync" => {
            let (_, pos) = options(&[], args)?;
            Command::Sync {
                path: path_arg("sync", &pos)?,
            }
        }
        "whoami" => Command::WhoAmI,
        "getEphemerals" => {
            let (_, pos) = options(&[], args)?;
            let path = pos.first().cloned().unwrap_or_else(|| "/".to_owned());
            validate_path(&path, false).map_err(CliError::Usage)?;
            Command::GetEphemerals { path }
        }
        "getAllChildrenNumber" => {
            let (_, pos) = options(&[], args)?;
            Command::GetAllChildrenNumber {
                path: path_arg("getAllChildrenNumber", &pos)?,
            }
        }
        "connect" => Command::Connect {
            server: args.first().cloned(),
        },
        "close" => Command::Close,
        "history" => Command::History,
        "redo" => {
            let index = args
                .first()
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| usage_of("redo"))?;
            Command::Redo { index }
        }
        "printwatches" => Command::PrintWatches {
            on: args.first().map(|a| a == "on"),
        },
        "version" => Command::Version,
        "help" => Command::Help,
        "quit" => Command::Quit,
        other => return Err(CliError::CommandNotFound(other.to_owned())),
    };
    Ok(Parsed { command, warnings })
}

fn options(spec: &[OptSpec], args: &[String]) -> Result<(Opts, Vec<String>), CliError> {
    parse_options(spec, args).map_err(CliError::Usage)
}

/// The first positional word as a validated path, or the command's usage.
fn path_arg(name: &str, pos: &[String]) -> Result<String, CliError> {
    let path = pos.first().ok_or_else(|| usage_of(name))?;
    validate_path(path, false).map_err(CliError::Usage)?;
    Ok(path.clone())
}

/// `ls path watch`, `get path watch`, `stat path watch`: the pre-3.5 form,
/// still accepted with a note, meaning "-w".
fn deprecated_watch(pos: &[String], old: &str, new: &str, warnings: &mut Vec<String>) -> bool {
    if pos.len() > 1 {
        warnings.push(format!(
            "'{old}' has been deprecated. Please use '{new}' instead."
        ));
        true
    } else {
        false
    }
}

fn parse_ls(args: &[String], warnings: &mut Vec<String>) -> Result<Command, CliError> {
    let (opts, pos) = options(&[flag('s'), flag('w'), flag('R')], args)?;
    let old_watch = deprecated_watch(&pos, "ls path [watch]", "ls [-w] path", warnings);
    Ok(Command::Ls {
        path: path_arg("ls", &pos)?,
        stat: opts.has('s'),
        watch: opts.has('w') || old_watch,
        recursive: opts.has('R'),
    })
}

fn parse_get(args: &[String], warnings: &mut Vec<String>) -> Result<Command, CliError> {
    let (opts, pos) = options(&[flag('s'), flag('w')], args)?;
    let old_watch = deprecated_watch(&pos, "get path [watch]", "get [-s] [-w] path", warnings);
    Ok(Command::Get {
        path: path_arg("get", &pos)?,
        stat: opts.has('s'),
        watch: opts.has('w') || old_watch,
    })
}

fn parse_stat(args: &[String], warnings: &mut Vec<String>) -> Result<Command, CliError> {
    let (opts, pos) = options(&[flag('w')], args)?;
    let old_watch = deprecated_watch(&pos, "stat path [watch]", "stat [-w] path", warnings);
    Ok(Command::Stat {
        path: path_arg("stat", &pos)?,
        watch: opts.has('w') || old_watch,
    })
}

fn parse_create(args: &[String], warnings: &mut Vec<String>) -> Result<Command, CliError> {
    let (opts, pos) = options(&[flag('s'), flag('e'), flag('c'), valued('t')], args)?;
    let path = pos.first().ok_or_else(|| usage_of("create"))?.clone();
    let (e, s, c) = (opts.has('e'), opts.has('s'), opts.has('c'));
    if c && (e || s) {
        return Err(CliError::usage(
            "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.",
        ));
    }
    let ttl = match opts.value('t') {
        None => None,
        Some(raw) => Some(
            raw.parse::<i64>()
                .map_err(|_| CliError::usage("-t argument must be a long value"))?,
        ),
    };
    if ttl.is_some() && e {
        return Err(CliError::usage("TTLs cannot be used with Ephemeral znodes"));
    }
    if ttl.is_some() && c {
        return Err(CliError::usage("TTLs cannot be used with Container znodes"));
    }
    // EphemeralType.TTL: five bytes of milliseconds, and never zero.
    const MAX_TTL_MS: i64 = 0x00FF_FFFF_FFFF;
    if let Some(ttl) = ttl {
        if ttl <= 0 || ttl > MAX_TTL_MS {
            return Err(CliError::usage(format!(
                "ttl must be positive and cannot be larger than: {MAX_TTL_MS}"
            )));
        }
    }
    let kind = match (e, s, c) {
        (true, true, _) => CreateKind::EphemeralSequential,
        (true, false, _) => CreateKind::Ephemeral,
        (false, true, _) => CreateKind::PersistentSequential,
        (false, false, true) => CreateKind::Container,
        (false, false, false) => CreateKind::Persistent,
    };
    let data = pos
        .get(1)
        .map(|d| d.as_bytes().to_vec())
        .unwrap_or_default();
    let acl = pos.get(2).map(|text| {
        let parsed = parse_acl(text);
        warnings.extend(parsed.warnings);
        parsed.acls
    });
    validate_path(&path, kind.is_sequential()).map_err(CliError::Usage)?;
    Ok(Command::Create {
        path,
        kind,
        ttl,
        data,
        acl,
    })
}

fn version_opt(raw: Option<&str>, option: char) -> Result<Option<i32>, CliError> {
    raw.map(|v| {
        v.parse::<i32>()
            .map_err(|_| CliError::usage(format!("-{option} argument must be an int value")))
    })
    .transpose()
}

fn parse_set(args: &[String]) -> Result<Command, CliError> {
    let (opts, pos) = options(&[flag('s'), valued('v')], args)?;
    if pos.len() < 2 {
        return Err(usage_of("set"));
    }
    let version = version_opt(opts.value('v'), 'v')?;
    let path = path_arg("set", &pos)?;
    Ok(Command::Set {
        path,
        data: pos[1].as_bytes().to_vec(),
        version,
        stat: opts.has('s'),
    })
}

fn parse_delete(args: &[String], warnings: &mut Vec<String>) -> Result<Command, CliError> {
    let (opts, pos) = options(&[valued('v')], args)?;
    let mut version = version_opt(opts.value('v'), 'v')?;
    if pos.len() > 1 {
        warnings.push(
            "'delete path [version]' has been deprecated. Please use 'delete [-v version] path' instead."
                .to_owned(),
        );
        version = version_opt(Some(&pos[1]), 'v')?;
    }
    Ok(Command::Delete {
        path: path_arg("delete", &pos)?,
        version,
    })
}

fn parse_deleteall(args: &[String]) -> Result<Command, CliError> {
    let (opts, pos) = options(&[valued('b')], args)?;
    // zkCli batches deletes into multi requests; we delete one by one, but
    // still reject a bad value so scripts get the same answer.
    if let Some(raw) = opts.value('b') {
        if raw.parse::<i32>().is_err() {
            return Err(CliError::usage("-b argument must be an int value"));
        }
    }
    Ok(Command::DeleteAll {
        path: path_arg("deleteall", &pos)?,
    })
}

fn parse_set_acl(args: &[String], warnings: &mut Vec<String>) -> Result<Command, CliError> {
    let (opts, pos) = options(&[flag('s'), valued('v'), flag('R')], args)?;
    if pos.len() < 2 {
        return Err(usage_of("setAcl"));
    }
    let parsed = parse_acl(&pos[1]);
    warnings.extend(parsed.warnings);
    let version = version_opt(opts.value('v'), 'v')?;
    Ok(Command::SetAcl {
        path: path_arg("setAcl", &pos)?,
        acl: parsed.acls,
        version,
        stat: opts.has('s'),
        recursive: opts.has('R'),
    })
}

fn parse_add_watch(args: &[String]) -> Result<Command, CliError> {
    let (opts, pos) = options(&[valued('m')], args)?;
    let recursive = match opts.value('m') {
        None | Some("PERSISTENT_RECURSIVE") => true,
        Some("PERSISTENT") => false,
        Some(other) => {
            return Err(CliError::usage(format!(
                "Unsupported mode: {other}, must be one of [PERSISTENT, PERSISTENT_RECURSIVE]"
            )))
        }
    };
    Ok(Command::AddWatch {
        path: path_arg("addWatch", &pos)?,
        recursive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zookeeper_client::{AuthId, Permission};

    fn parse(line: &str) -> Result<Parsed, CliError> {
        parse_command(&super::super::args::tokenize(line))
    }

    fn cmd(line: &str) -> Command {
        parse(line).unwrap().command
    }

    fn err(line: &str) -> String {
        parse(line).unwrap_err().to_string()
    }

    #[test]
    fn ls_variants() {
        assert_eq!(
            cmd("ls /"),
            Command::Ls {
                path: "/".into(),
                stat: false,
                watch: false,
                recursive: false
            }
        );
        assert_eq!(
            cmd("ls -s -w -R /a"),
            Command::Ls {
                path: "/a".into(),
                stat: true,
                watch: true,
                recursive: true
            }
        );
        assert_eq!(
            cmd("ls /a -sR"),
            Command::Ls {
                path: "/a".into(),
                stat: true,
                watch: false,
                recursive: true
            }
        );
        let old = parse("ls /a watch").unwrap();
        assert_eq!(
            old.command,
            Command::Ls {
                path: "/a".into(),
                stat: false,
                watch: true,
                recursive: false
            }
        );
        assert_eq!(
            old.warnings,
            vec!["'ls path [watch]' has been deprecated. Please use 'ls [-w] path' instead."]
        );
        assert_eq!(err("ls"), "ls [-s] [-w] [-R] path");
        assert_eq!(err("ls x"), "Path must start with / character");
        assert_eq!(
            err("ls -x /"),
            "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -x"
        );
    }

    #[test]
    fn get_stat_sync() {
        assert_eq!(
            cmd("get -s /a"),
            Command::Get {
                path: "/a".into(),
                stat: true,
                watch: false
            }
        );
        assert_eq!(
            cmd("stat -w /a"),
            Command::Stat {
                path: "/a".into(),
                watch: true
            }
        );
        assert_eq!(cmd("sync /a"), Command::Sync { path: "/a".into() });
        assert_eq!(err("get"), "get [-s] [-w] path");
        assert_eq!(err("stat"), "stat [-w] path");
        assert_eq!(err("sync"), "sync path");
    }

    #[test]
    fn create_variants() {
        assert_eq!(
            cmd("create /a"),
            Command::Create {
                path: "/a".into(),
                kind: CreateKind::Persistent,
                ttl: None,
                data: vec![],
                acl: None
            }
        );
        assert_eq!(
            cmd("create -e -s /a/ 'x y'"),
            Command::Create {
                path: "/a/".into(),
                kind: CreateKind::EphemeralSequential,
                ttl: None,
                data: b"x y".to_vec(),
                acl: None
            }
        );
        assert_eq!(
            cmd("create -t 500 /t d world:anyone:r"),
            Command::Create {
                path: "/t".into(),
                kind: CreateKind::Persistent,
                ttl: Some(500),
                data: b"d".to_vec(),
                acl: Some(vec![Acl::new(Permission::READ, AuthId::anyone())]),
            }
        );
        assert!(matches!(
            cmd("create -c /c"),
            Command::Create {
                kind: CreateKind::Container,
                ..
            }
        ));
        assert_eq!(
            err("create"),
            "create [-s] [-e] [-c] [-t ttl] path [data] [acl]"
        );
        assert_eq!(
            err("create -c -e /x"),
            "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential."
        );
        assert_eq!(err("create -t x /x"), "-t argument must be a long value");
        assert_eq!(
            err("create -t 10 -e /x"),
            "TTLs cannot be used with Ephemeral znodes"
        );
        assert_eq!(
            err("create -t 0 /x"),
            "ttl must be positive and cannot be larger than: 1099511627775"
        );
        assert_eq!(err("create /a/"), "Path must not end with / character");
        let warned = parse("create /a x world:anyone:rz,bogus").unwrap();
        assert_eq!(
            warned.warnings,
            vec![
                "Unknown perm type: z",
                "bogus does not have the form scheme:id:perm"
            ]
        );
    }

    #[test]
    fn set_delete_acl() {
        assert_eq!(
            cmd("set -s -v 3 /a data"),
            Command::Set {
                path: "/a".into(),
                data: b"data".to_vec(),
                version: Some(3),
                stat: true
            }
        );
        assert_eq!(err("set /a"), "set [-s] [-v version] path data");
        assert_eq!(err("set -v x /a d"), "-v argument must be an int value");
        assert_eq!(
            err("set -v"),
            "org.apache.commons.cli.MissingArgumentException: Missing argument for option: v"
        );
        assert_eq!(
            cmd("delete -v 2 /a"),
            Command::Delete {
                path: "/a".into(),
                version: Some(2)
            }
        );
        let old = parse("delete /a 4").unwrap();
        assert_eq!(
            old.command,
            Command::Delete {
                path: "/a".into(),
                version: Some(4)
            }
        );
        assert_eq!(old.warnings.len(), 1);
        assert_eq!(
            cmd("deleteall /a -b 5"),
            Command::DeleteAll { path: "/a".into() }
        );
        assert_eq!(err("deleteall"), "deleteall path [-b batch size]");
        assert_eq!(
            cmd("setAcl -R -v 1 /a world:anyone:cdrwa"),
            Command::SetAcl {
                path: "/a".into(),
                acl: vec![Acl::new(Permission::ALL, AuthId::anyone())],
                version: Some(1),
                stat: false,
                recursive: true
            }
        );
        assert_eq!(err("setAcl /a"), "setAcl [-s] [-v version] [-R] path acl");
        assert_eq!(
            cmd("getAcl -s /a"),
            Command::GetAcl {
                path: "/a".into(),
                stat: true
            }
        );
    }

    #[test]
    fn session_and_shell_commands() {
        assert_eq!(
            cmd("addauth digest u:p"),
            Command::AddAuth {
                scheme: "digest".into(),
                auth: b"u:p".to_vec()
            }
        );
        assert_eq!(
            cmd("addauth digest"),
            Command::AddAuth {
                scheme: "digest".into(),
                auth: vec![]
            }
        );
        assert_eq!(err("addauth"), "addauth scheme auth");
        assert_eq!(
            cmd("getEphemerals"),
            Command::GetEphemerals { path: "/".into() }
        );
        assert_eq!(
            cmd("getAllChildrenNumber /a"),
            Command::GetAllChildrenNumber { path: "/a".into() }
        );
        assert_eq!(
            cmd("addWatch -m PERSISTENT /a"),
            Command::AddWatch {
                path: "/a".into(),
                recursive: false
            }
        );
        assert_eq!(cmd("redo 3"), Command::Redo { index: 3 });
        assert_eq!(err("redo x"), "redo cmdno");
        assert_eq!(
            cmd("printwatches off"),
            Command::PrintWatches { on: Some(false) }
        );
        assert_eq!(cmd("whoami"), Command::WhoAmI);
        assert_eq!(cmd("quit"), Command::Quit);
        let unknown = parse("frobnicate /").unwrap_err();
        assert_eq!(unknown.exit_code(), 127);
        assert_eq!(
            unknown.to_string(),
            "Command not found: Command not found frobnicate"
        );
    }

    #[test]
    fn usage_lists_every_command_sorted() {
        let text = usage_text();
        let names: Vec<&str> = COMMANDS.iter().map(|(n, _)| *n).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert!(text.contains("\tls [-s] [-w] [-R] path\n"));
    }
}
