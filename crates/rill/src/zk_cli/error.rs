//! Command failures, with zkCli's messages and exit codes.
//!
//! zkCli prints one line to stderr per failed command and exits 1, except for
//! an unknown command (usage + 127). The keeper-error wording comes from
//! zkCli's `CliWrapperException` (e.g. `Node does not exist: /x`); errors it has
//! no special wording for fall back to `KeeperException.getMessage()`
//! (`KeeperErrorCode = ConnectionLoss for /x`).

use std::fmt;

use zookeeper_client::Error as ZkError;

/// Exit code zkCli uses for an unknown command.
pub const EXIT_COMMAND_NOT_FOUND: u8 = 127;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// Bad usage or a malformed argument; the message is printed as is.
    Usage(String),
    /// Not a command we know; usage text goes to stderr before the message.
    CommandNotFound(String),
    /// An operation that failed for a reason with its own wording
    /// (e.g. `Sync has failed. rc=-4`).
    Failed(String),
    /// The server (or the connection) refused an operation on `path`; `None`
    /// prints as `null`, as zkCli does for client-side checks.
    Keeper {
        error: ZkError,
        path: Option<String>,
    },
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }

    pub fn keeper(error: ZkError, path: &str) -> Self {
        CliError::Keeper {
            error,
            path: Some(path.to_owned()),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::CommandNotFound(_) => EXIT_COMMAND_NOT_FOUND,
            _ => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(message) | CliError::Failed(message) => f.write_str(message),
            CliError::CommandNotFound(cmd) => {
                write!(f, "Command not found: Command not found {cmd}")
            }
            CliError::Keeper { error, path } => {
                f.write_str(&keeper_message(error, path.as_deref().unwrap_or("null")))
            }
        }
    }
}

/// zkCli's message for a keeper error on `path`.
pub fn keeper_message(error: &ZkError, path: &str) -> String {
    let prefix = match error {
        ZkError::NoNode => "Node does not exist: ",
        ZkError::NoChildrenForEphemerals => "Ephemerals cannot have children: ",
        ZkError::NodeExists => "Node already exists: ",
        ZkError::NotEmpty => "Node not empty: ",
        ZkError::NotReadOnly => "Not a read-only call: ",
        ZkError::InvalidAcl => "Acl is not valid : ",
        ZkError::NoAuth => "Insufficient permission : ",
        ZkError::BadArguments(_) => "Arguments are not valid : ",
        ZkError::BadVersion => "version No is not valid : ",
        ZkError::QuotaExceeded => "Quota has exceeded : ",
        _ => return format!("{} for {path}", keeper_exception_text(error)),
    };
    format!("{prefix}{path}")
}

/// Java's `KeeperException.getMessage()` without the path:
/// `KeeperErrorCode = <code message>`. Library-only errors (timeouts, no
/// reachable host, closed client) are what Java reports as a connection loss.
pub fn keeper_exception_text(error: &ZkError) -> String {
    let code = match error {
        ZkError::NoNode => "NoNode",
        ZkError::NoAuth => "NoAuth",
        ZkError::BadVersion => "BadVersion",
        ZkError::NoChildrenForEphemerals => "NoChildrenForEphemerals",
        ZkError::NodeExists => "NodeExists",
        ZkError::NotEmpty => "Directory not empty",
        ZkError::SessionExpired => "Session expired",
        ZkError::InvalidAcl => "InvalidACL",
        ZkError::AuthFailed => "AuthFailed",
        ZkError::SessionMoved => "Session moved",
        ZkError::NotReadOnly => "Not a read-only call",
        ZkError::NoWatcher => "No such watcher",
        ZkError::QuotaExceeded => "Quota has exceeded",
        ZkError::Throttled => "Op throttled due to high load",
        ZkError::MarshallingError => "MarshallingError",
        ZkError::Unimplemented => "Unimplemented",
        ZkError::BadArguments(_) => "BadArguments",
        ZkError::ReconfigDisabled => "Reconfig is disabled",
        ZkError::RuntimeInconsistent => "RuntimeInconsistency",
        ZkError::ConnectionLoss | ZkError::Timeout | ZkError::NoHosts | ZkError::ClientClosed => {
            "ConnectionLoss"
        }
        other => return format!("{other}"),
    };
    format!("KeeperErrorCode = {code}")
}

/// Java's numeric `KeeperException.Code`, which `sync` prints on failure.
pub fn keeper_code(error: &ZkError) -> i32 {
    match error {
        ZkError::RuntimeInconsistent => -2,
        ZkError::ConnectionLoss | ZkError::Timeout | ZkError::NoHosts | ZkError::ClientClosed => -4,
        ZkError::MarshallingError => -5,
        ZkError::Unimplemented => -6,
        ZkError::BadArguments(_) => -8,
        ZkError::NoNode => -101,
        ZkError::NoAuth => -102,
        ZkError::BadVersion => -103,
        ZkError::NoChildrenForEphemerals => -108,
        ZkError::NodeExists => -110,
        ZkError::NotEmpty => -111,
        ZkError::SessionExpired => -112,
        ZkError::InvalidAcl => -114,
        ZkError::AuthFailed => -115,
        ZkError::SessionMoved => -118,
        ZkError::NotReadOnly => -119,
        ZkError::NoWatcher => -121,
        ZkError::ReconfigDisabled => -123,
        ZkError::QuotaExceeded => -125,
        ZkError::Throttled => -127,
        ZkError::UnexpectedErrorCode(code) => *code,
        _ => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_zkcli() {
        let cases = [
            (ZkError::NoNode, "Node does not exist: /x"),
            (ZkError::NodeExists, "Node already exists: /x"),
            (ZkError::NotEmpty, "Node not empty: /x"),
            (ZkError::BadVersion, "version No is not valid : /x"),
            (ZkError::NoAuth, "Insufficient permission : /x"),
            (ZkError::InvalidAcl, "Acl is not valid : /x"),
            (
                ZkError::Unimplemented,
                "KeeperErrorCode = Unimplemented for /x",
            ),
            (
                ZkError::ConnectionLoss,
                "KeeperErrorCode = ConnectionLoss for /x",
            ),
            (ZkError::NoHosts, "KeeperErrorCode = ConnectionLoss for /x"),
        ];
        for (error, message) in cases {
            assert_eq!(CliError::keeper(error, "/x").to_string(), message);
        }
    }

    #[test]
    fn client_side_failures_say_null() {
        let err = CliError::Keeper {
            error: ZkError::InvalidAcl,
            path: None,
        };
        assert_eq!(err.to_string(), "Acl is not valid : null");
    }

    #[test]
    fn exit_codes() {
        assert_eq!(CliError::CommandNotFound("x".into()).exit_code(), 127);
        assert_eq!(
            CliError::CommandNotFound("foo".into()).to_string(),
            "Command not found: Command not found foo"
        );
        assert_eq!(CliError::usage("u").exit_code(), 1);
        assert_eq!(CliError::keeper(ZkError::NoNode, "/").exit_code(), 1);
    }
}
