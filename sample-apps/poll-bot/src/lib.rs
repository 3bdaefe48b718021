//! `poll-bot`: `/poll Question | A | B …` posts the question with one button
//! per option; every press edits the same message so each option shows as
//! `<option>: <count>`. One vote per person: pressing again moves it.

use miniapp_sdk::{Bot, ButtonPress, Error, Message, messaging, storage};

struct PollBot;

/// The answer to a `/poll` that cannot be posted.
const USAGE: &str = "usage: /poll Question | option A | option B …";

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
        Some(Poll {
            question,
            options,
            votes,
        })
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
        self.options
            .iter()
            .enumerate()
            .map(|(i, o)| vec![(o.clone(), i.to_string())])
            .collect()
    }
}

impl Bot for PollBot {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        let Some(args) = msg.command("/poll") else {
            return Ok(());
        };
        let mut parts = args.split('|').map(str::trim).filter(|p| !p.is_empty());
        let question = parts.next().unwrap_or_default().to_string();
        let options: Vec<String> = parts.map(|o| o.replace('\n', " ")).collect();
        if question.is_empty() || options.len() < 2 {
            messaging::send(&msg.chat, USAGE)?;
            return Ok(());
        }
        let poll = Poll {
            question: question.replace('\n', " "),
            options,
            votes: Vec::new(),
        };
        let message = messaging::with_buttons(&poll.render(), &poll.buttons());
        let id = match messaging::send_message(&msg.chat, &message) {
            Ok(id) => id,
            // Too many or too long options, or text the host would not
            // show: the same poll fails every time, so say why instead.
            Err(Error::Invalid(why) | Error::TooLarge(why)) => {
                messaging::send(&msg.chat, &format!("cannot post this poll: {why}\n{USAGE}"))?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        storage::app().set(&format!("poll:{id}"), poll.encode().as_bytes())?;
        Ok(())
    }

    fn on_button(press: ButtonPress) -> miniapp_sdk::Result {
        let key = format!("poll:{}", press.message);
        let bucket = storage::app();
        let stored = bucket.get(&key)?.ok_or("unknown poll")?;
        let mut poll = Poll::parse(&String::from_utf8_lossy(&stored)).ok_or("corrupt poll")?;
        let choice: usize = press.data.parse().map_err(|_| "bad button data")?;
        if choice >= poll.options.len() {
            return Err("no such option".into());
        }
        match poll.votes.iter_mut().find(|(user, _)| *user == press.user) {
            Some(vote) => vote.1 = choice,
            None => poll.votes.push((press.user.clone(), choice)),
        }
        bucket.set(&key, poll.encode().as_bytes())?;
        let message = messaging::with_buttons(&poll.render(), &poll.buttons());
        messaging::edit_message(&press.message, &message)?;
        Ok(())
    }
}

miniapp_sdk::bot!(PollBot);

#[cfg(test)]
mod tests {
    use super::PollBot;
    use miniapp_sdk::testing::{Bucket, Harness};
    use miniapp_sdk::{Error, limits};

    fn host() -> Harness {
        Harness::new()
            .named("poll-bot")
            .grant("messaging.send")
            .grant("storage")
    }

    #[test]
    fn a_poll_is_posted_with_one_button_per_option() {
        let mut t = host();
        t.message::<PollBot>("chat-1", "alice", "/poll Lunch? | Pizza | Sushi")
            .unwrap();
        let poll = t.last_sent().unwrap();
        assert_eq!(poll.text, "Lunch?\nPizza: 0\nSushi: 0");
        assert_eq!(poll.labels(), ["Pizza", "Sushi"]);
        assert_eq!(poll.buttons.len(), 2, "one row per option");
        assert!(t.storage(Bucket::App).get_str(&format!("poll:{}", poll.id)).is_some());
    }

    #[test]
    fn presses_count_one_vote_per_person_and_edit_the_same_message() {
        let mut t = host();
        t.message::<PollBot>("chat-1", "alice", "/poll Lunch? | Pizza | Sushi")
            .unwrap();
        let id = t.last_sent().unwrap().id;
        t.press::<PollBot>(&id, "alice", "Pizza").unwrap();
        t.press::<PollBot>(&id, "bob", "Pizza").unwrap();
        t.press::<PollBot>(&id, "alice", "Sushi").unwrap(); // alice moves her vote
        let sent = t.sent();
        assert_eq!(sent.len(), 1, "the poll is edited, not posted again");
        assert_eq!(sent[0].text, "Lunch?\nPizza: 1\nSushi: 1");
        assert!(sent[0].edited);
        assert_eq!(sent[0].labels(), ["Pizza", "Sushi"], "the buttons stay");
    }

    #[test]
    fn a_poll_needs_two_options() {
        let mut t = host();
        t.message::<PollBot>("chat-1", "alice", "/poll Lunch? | Pizza").unwrap();
        assert!(t.last_sent().unwrap().text.starts_with("usage: /poll"));
    }

    #[test]
    fn a_poll_the_host_refuses_answers_why_instead_of_failing() {
        let mut t = host();
        let long = "x".repeat(limits::MAX_BUTTON_LABEL_BYTES + 1);
        let many = vec!["o"; limits::MAX_BUTTONS + 1].join(" | ");
        for text in [
            format!("/poll Lunch? | Pizza | {long}"),
            format!("/poll Lunch? | {many}"),
            "/poll Lunch? | Pizza | \u{200B}".to_string(),
        ] {
            t.message::<PollBot>("chat-1", "alice", &text).unwrap();
            let answer = t.last_sent().unwrap().text;
            assert!(answer.starts_with("cannot post this poll: "), "{answer}");
            assert!(answer.ends_with("usage: /poll Question | option A | option B …"));
        }
        assert_eq!(t.sent().len(), 3);
        assert!(t.storage(Bucket::App).keys().is_empty(), "no poll stored");
    }

    #[test]
    fn a_press_of_an_unknown_poll_fails_and_changes_nothing() {
        let mut t = host();
        t.message::<PollBot>("chat-1", "alice", "/poll Lunch? | Pizza | Sushi")
            .unwrap();
        let id = t.last_sent().unwrap().id;
        t.storage(Bucket::App).set(&format!("poll:{id}"), "garbage");
        let err = t.press::<PollBot>(&id, "bob", "Pizza").unwrap_err();
        assert_eq!(err.to_string(), "corrupt poll");
        assert!(!t.sent()[0].edited);
    }

    #[test]
    fn without_storage_the_poll_is_not_posted_at_all() {
        // The send comes before the failed write, but one invocation is one
        // transaction: the message goes with the write or not at all.
        let mut t = Harness::new().grant("messaging.send");
        let err = t
            .message::<PollBot>("chat-1", "alice", "/poll Lunch? | Pizza | Sushi")
            .unwrap_err();
        assert_eq!(err.error(), Some(&Error::Denied));
        assert!(t.sent().is_empty());
    }
}
