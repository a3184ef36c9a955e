//! The interactive shell (`rill zk` without a command) and the dispatcher
//! shared with one-shot mode.
//!
//! On a terminal, lines are read with rustyline: editing, in-memory history
//! (up/down, Ctrl-R) and tab completion of command names and znode paths, like
//! zkCli's JLine console. Watch notifications are printed through rustyline's
//! external printer so they don't garble the line being typed. When stdin is
//! not a terminal (`echo 'ls /' | rill zk`), lines are read plainly and no
//! prompt is printed, which keeps piped output clean.

use std::io::{BufRead, IsTerminal};
use std::time::Duration;

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Config, Context, Editor, ExternalPrinter as _, Helper};
use tokio::runtime::Runtime;
use zookeeper_client::Client;

use super::args::{tokenize, GlobalOptions};
use super::command::{parse_command, usage_text, Command, COMMANDS};
use super::error::CliError;
use super::exec::{err, out, Notifier, Session};
use super::format::prompt;

/// What the caller should do after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// Shell state: the session, the numbered command history zkCli's `history`
/// and `redo` use, and the exit code of the last command (what `quit` and
/// end-of-input exit with, as in zkCli).
pub struct Shell {
    pub session: Session,
    notifier: Notifier,
    history: Vec<String>,
    pub exit_code: u8,
}

impl Shell {
    pub fn new(options: &GlobalOptions, notifier: Notifier) -> Self {
        let session = Session::new(
            options.server.clone(),
            options.timeout_ms,
            options.readonly,
            notifier.clone(),
        );
        Shell {
            session,
            notifier,
            history: Vec::new(),
            exit_code: 0,
        }
    }

    /// Number of commands entered so far; the prompt shows it.
    pub fn count(&self) -> usize {
        self.history.len()
    }

    /// Runs one shell line. Blank lines are ignored and not numbered.
    pub fn execute_line(&mut self, rt: &Runtime, line: &str) -> Flow {
        let words = tokenize(line);
        if words.is_empty() {
            return Flow::Continue;
        }
        self.history.push(line.to_owned());
        self.dispatch(rt, &words)
    }

    /// Parses and runs one command, recording its exit code.
    pub fn dispatch(&mut self, rt: &Runtime, words: &[String]) -> Flow {
        let parsed = match parse_command(words) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.fail(&e);
                return Flow::Continue;
            }
        };
        for warning in &parsed.warnings {
            err(warning);
        }
        let result = match parsed.command {
            Command::Quit => return Flow::Quit,
            Command::Redo { index } => return self.redo(rt, index),
            Command::History => {
                let current = self.history.len().saturating_sub(1);
                for i in current.saturating_sub(10)..self.history.len() {
                    out(&format!("{i} - {}", self.history[i]));
                }
                Ok(())
            }
            Command::PrintWatches { on: None } => {
                out(&format!(
                    "printwatches is {}",
                    if self.notifier.is_enabled() {
                        "on"
                    } else {
                        "off"
                    }
                ));
                Ok(())
            }
            Command::PrintWatches { on: Some(on) } => {
                self.notifier.set_enabled(on);
                Ok(())
            }
            Command::Connect { server } => rt
                .block_on(self.session.connect(server.as_deref()))
                .map_err(|e| {
                    CliError::Failed(format!("Unable to connect to {}: {e}", self.session.host()))
                }),
            Command::Close => {
                rt.block_on(self.session.close());
                Ok(())
            }
            Command::Help => {
                out(usage_text().trim_end());
                Ok(())
            }
            Command::Version => {
                out(&format!(
                    "Rill ZooKeeper CLI version: {}",
                    env!("CARGO_PKG_VERSION")
                ));
                Ok(())
            }
            command => rt.block_on(self.session.execute(&command)),
        };
        match result {
            Ok(()) => self.exit_code = 0,
            Err(e) => self.fail(&e),
        }
        Flow::Continue
    }

    /// `redo N`: runs history entry N again, recorded under the redo's number.
    fn redo(&mut self, rt: &Runtime, index: usize) -> Flow {
        let current = self.history.len().saturating_sub(1);
        if index >= current {
            self.fail(&CliError::usage("Command index out of range"));
            return Flow::Continue;
        }
        let line = self.history[index].clone();
        let words = tokenize(&line);
        if words.first().is_some_and(|w| w == "redo") {
            self.fail(&CliError::usage("No redoing redos"));
            return Flow::Continue;
        }
        self.history[current] = line;
        self.dispatch(rt, &words)
    }

    fn fail(&mut self, e: &CliError) {
        report(e);
        self.exit_code = e.exit_code();
    }
}

/// Prints an error as zkCli does: unknown commands get the usage first.
pub fn report(e: &CliError) {
    if matches!(e, CliError::CommandNotFound(_)) {
        err(usage_text().trim_end());
    }
    err(&e.to_string());
}

/// Runs the interactive shell until `quit` or end of input.
pub fn run(rt: &Runtime, options: &GlobalOptions) -> u8 {
    let notifier = Notifier::new(true);
    let mut input = Input::open(rt, &notifier);
    let mut shell = Shell::new(options, notifier.clone());

    out(&format!("Connecting to {}", options.server));
    out("Welcome to ZooKeeper!");
    if let Err(e) = rt.block_on(shell.session.connect(None)) {
        err(&format!("Unable to connect to {}: {e}", options.server));
        err("Use 'connect host:port' to try again.");
    }

    loop {
        input.set_client(shell.session.client().cloned());
        let prompt = prompt(shell.session.host(), shell.session.state(), shell.count());
        let line = input.read_line(&prompt);
        // Completion must not keep the session alive while commands run
        // (`close` waits for the server to end the session).
        input.set_client(None);
        let Some(line) = line else { break };
        if !line.trim().is_empty() {
            input.remember(&line);
        }
        if shell.execute_line(rt, &line) == Flow::Quit {
            break;
        }
    }
    rt.block_on(shell.session.close());
    shell.exit_code
}

/// Where shell lines come from.
enum Input {
    Terminal(Box<Editor<ZkHelper, DefaultHistory>>),
    Plain(std::io::StdinLock<'static>),
}

impl Input {
    fn open(rt: &Runtime, notifier: &Notifier) -> Input {
        if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
            let config = Config::builder()
                .auto_add_history(false)
                .max_history_size(1000);
            if let Ok(config) = config {
                if let Ok(mut editor) = Editor::with_config(config.build()) {
                    editor.set_helper(Some(ZkHelper {
                        rt: rt.handle().clone(),
                        client: None,
                    }));
                    if let Ok(mut printer) = editor.create_external_printer() {
                        notifier.set_sink(Box::new(move |text| {
                            let _ = printer.print(text);
                        }));
                    }
                    return Input::Terminal(Box::new(editor));
                }
            }
        }
        Input::Plain(std::io::stdin().lock())
    }

    /// The next line, or `None` at end of input. Ctrl-C abandons the line
    /// being typed, like most shells, rather than leaving the session.
    fn read_line(&mut self, prompt: &str) -> Option<String> {
        match self {
            Input::Terminal(editor) => match editor.readline(prompt) {
                Ok(line) => Some(line),
                Err(ReadlineError::Interrupted) => Some(String::new()),
                Err(ReadlineError::Eof) => None,
                Err(e) => {
                    err(&format!("error reading input: {e}"));
                    None
                }
            },
            Input::Plain(stdin) => {
                let mut line = String::new();
                match stdin.read_line(&mut line) {
                    Ok(0) | Err(_) => None,
                    Ok(_) => Some(line.trim_end_matches(['\n', '\r']).to_owned()),
                }
            }
        }
    }

    fn remember(&mut self, line: &str) {
        if let Input::Terminal(editor) = self {
            let _ = editor.add_history_entry(line);
        }
    }

    fn set_client(&mut self, client: Option<Client>) {
        if let Input::Terminal(editor) = self {
            if let Some(helper) = editor.helper_mut() {
                helper.client = client;
            }
        }
    }
}

/// Tab completion: command names for the first word, child znodes for words
/// starting with `/` (zkCli's `JLineZNodeCompleter`).
struct ZkHelper {
    rt: tokio::runtime::Handle,
    client: Option<Client>,
}

impl ZkHelper {
    fn complete_path(&self, word: &str) -> Vec<String> {
        let Some(client) = &self.client else {
            return Vec::new();
        };
        let slash = word.rfind('/').unwrap_or(0);
        let (dir, prefix) = (&word[..=slash], &word[slash + 1..]);
        let parent = if dir == "/" {
            "/"
        } else {
            dir.trim_end_matches('/')
        };
        let listing = self.rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(2), client.list_children(parent)).await
        });
        let Ok(Ok(mut children)) = listing else {
            return Vec::new();
        };
        children.sort();
        children
            .into_iter()
            .filter(|c| c.starts_with(prefix))
            .map(|c| format!("{dir}{c}"))
            .collect()
    }
}

impl Completer for ZkHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let before = &line[..pos];
        let start = before
            .char_indices()
            .rfind(|(_, c)| c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8());
        let word = &before[start..];
        let candidates = if start == 0 {
            COMMANDS
                .iter()
                .filter(|(name, _)| name.starts_with(word))
                .map(|(name, _)| format!("{name} "))
                .collect()
        } else if word.starts_with('/') {
            self.complete_path(word)
        } else {
            Vec::new()
        };
        Ok((start, candidates))
    }
}

impl Hinter for ZkHelper {
    type Hint = String;
}

impl Highlighter for ZkHelper {}

impl Validator for ZkHelper {}

impl Helper for ZkHelper {}
