//! Just enough of a Dockerfile reader for the static checks of our two
//! Dockerfiles: instructions with continuation lines joined, split into
//! stages, and the accounts a `RUN` creates.

/// One instruction: `HEALTHCHECK`, and everything after it on its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub keyword: String,
    pub args: String,
}

/// The instructions of one `FROM` stage, `FROM` included.
pub type Stage = Vec<Instruction>;

/// The stages of a Dockerfile, in order.
pub fn stages(text: &str) -> Vec<Stage> {
    let mut stages: Vec<Stage> = Vec::new();
    for instruction in instructions(text) {
        if instruction.keyword == "FROM" || stages.is_empty() {
            stages.push(Vec::new());
        }
        stages.last_mut().expect("a stage").push(instruction);
    }
    stages
}

fn instructions(text: &str) -> Vec<Instruction> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        match line.strip_suffix('\\') {
            Some(continued) => current.push_str(continued),
            None => {
                current.push_str(line);
                if !current.trim().is_empty() {
                    joined.push(std::mem::take(&mut current));
                }
            }
        }
    }
    joined
        .iter()
        .map(|line| {
            let (keyword, args) = line.trim().split_once(char::is_whitespace).unwrap_or((line, ""));
            Instruction {
                keyword: keyword.to_uppercase(),
                args: args.trim().to_string(),
            }
        })
        .collect()
}

/// The arguments of the stage's instructions called `keyword`.
pub fn all<'a>(stage: &'a Stage, keyword: &str) -> Vec<&'a str> {
    stage
        .iter()
        .filter(|i| i.keyword == keyword)
        .map(|i| i.args.as_str())
        .collect()
}

/// The arguments of the stage's one instruction called `keyword`.
pub fn one<'a>(stage: &'a Stage, keyword: &str) -> &'a str {
    match all(stage, keyword)[..] {
        [args] => args,
        ref found => panic!("expected one {keyword}, found {found:?}"),
    }
}

/// A user or group that a `RUN` line creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// `useradd`, `groupadd`, `adduser` or `addgroup`.
    pub command: String,
    pub name: String,
    /// The `--uid` or `--gid` asked for, if any.
    pub id: Option<u32>,
}

/// The accounts created by the shell commands of a `RUN`.
pub fn created_accounts(run: &str) -> Vec<Account> {
    run.split(['&', ';', '|'])
        .filter_map(|command| {
            let words: Vec<&str> = command.split_whitespace().collect();
            let (program, args) = words.split_first()?;
            ["useradd", "groupadd", "adduser", "addgroup"]
                .contains(program)
                .then(|| account(program, args))
        })
        .collect()
}

fn account(program: &str, args: &[&str]) -> Account {
    const ID_FLAGS: [&str; 4] = ["--uid", "-u", "--gid", "-g"];
    const VALUE_FLAGS: [&str; 6] = ["--home-dir", "-d", "--shell", "-s", "--comment", "-c"];
    let own_id = if program.contains("user") {
        ["--uid", "-u"]
    } else {
        ["--gid", "-g"]
    };
    let (mut name, mut id, mut words) = (None, None, args.iter());
    while let Some(word) = words.next() {
        if ID_FLAGS.contains(word) || VALUE_FLAGS.contains(word) {
            let value = words.next().expect("a flag's value");
            if own_id.contains(word) {
                id = Some(value.parse().expect("a numeric id"));
            }
        } else if !word.starts_with('-') {
            name = Some(word.to_string());
        }
    }
    Account {
        command: program.to_string(),
        name: name.expect("the account's name"),
        id,
    }
}
