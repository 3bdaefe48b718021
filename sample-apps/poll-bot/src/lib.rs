//! `poll-bot`: `/poll Question | A | B …` posts the question with one button
//! per option; every press edits the same message so each option shows as
//! `<option>: <count>`. One vote per person: pressing again moves it.

use miniapp_sdk::{Bot, ButtonPress, Message, messaging, storage};

struct PollBot;

/// A poll as stored: question, options, and each voter's choice.
struct Poll {
    question: String,
    options: Vec<String>,
    votes: Vec<(String, usize)>,
}

impl Poll {
    fn parse(text: &str) -> Option<Poll> {
        let mut lines = text.lines();
        let question = lines.next()?.strip_prefix("q:")?.to_string();
        let (mut options, mut votes) = (Vec::new(), Vec::new());
        for line in lines {
            if let Some(o) = line.strip_prefix("o:") {
                options.push(o.to_string());
            } else if let Some((user, choice)) = line.strip_prefix("v:").and_then(|v| v.split_once('=')) {
                votes.push((user.to_string(), choice.parse().ok()?));
            }
        }
        Some(Poll { question, options, votes })
    }

    fn encode(&self) -> String {
        let mut out = format!("q:{}", self.question);
        for o in &self.options {
            out.push_str(&format!("\no:{o}"));
        }
        for (user, choice) in &self.votes {
            out.push_str(&format!("\nv:{user}={choice}"));
        }
        out
    }

    fn render(&self) -> String {
        let mut text = self.question.clone();
        for (i, option) in self.options.iter().enumerate() {
            let count = self.votes.iter().filter(|(_, c)| *c == i).count();
            text.push_str(&format!("\n{option}: {count}"));
        }
        text
    }

    fn buttons(&self) -> Vec<Vec<(String, String)>> {
        self.options.iter().enumerate().map(|(i, o)| vec![(o.clone(), i.to_string())]).collect()
    }
}

impl Bot for PollBot {
    fn on_message(msg: Message) -> Result<(), String> {
        let Some(args) = msg.command("/poll") else { return Ok(()) };
        let mut parts = args.split('|').map(str::trim).filter(|p| !p.is_empty());
        let question = parts.next().unwrap_or_default().to_string();
        let options: Vec<String> = parts.map(|o| o.replace('\n', " ")).collect();
        if question.is_empty() || options.len() < 2 {
            messaging::send(&msg.chat, "usage: /poll Question | option A | option B …").map_err(|e| e.code().to_string())?;
            return Ok(());
        }
        let poll = Poll { question: question.replace('\n', " "), options, votes: Vec::new() };
        let message = messaging::with_buttons(&poll.render(), &poll.buttons());
        let id = messaging::send_message(&msg.chat, &message).map_err(|e| e.code().to_string())?;
        storage::app().set(&format!("poll:{id}"), poll.encode().as_bytes()).map_err(|e| e.code().to_string())
    }

    fn on_button(press: ButtonPress) -> Result<(), String> {
        let key = format!("poll:{}", press.message);
        let bucket = storage::app();
        let stored = bucket.get(&key).map_err(|e| e.code().to_string())?.ok_or("unknown poll")?;
        let mut poll = Poll::parse(&String::from_utf8_lossy(&stored)).ok_or("corrupt poll")?;
        let choice: usize = press.data.parse().map_err(|_| "bad button data")?;
        if choice >= poll.options.len() {
            return Err("no such option".into());
        }
        match poll.votes.iter_mut().find(|(user, _)| *user == press.user) {
            Some(vote) => vote.1 = choice,
            None => poll.votes.push((press.user.clone(), choice)),
        }
        bucket.set(&key, poll.encode().as_bytes()).map_err(|e| e.code().to_string())?;
        let message = messaging::with_buttons(&poll.render(), &poll.buttons());
        messaging::edit_message(&press.message, &message).map_err(|e| e.code().to_string())
    }
}

miniapp_sdk::bot!(PollBot);
