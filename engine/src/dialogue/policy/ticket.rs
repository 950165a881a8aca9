//! While a ticket is open: everything the user writes goes to staff, and follow-ups are
//! answered for what they are (a status question gets the queue position).

use super::{Draft, Engine, Event, Outcome, texts};
use crate::acts::Act;
use crate::dialogue::AnswerContext;

impl Engine {
    /// A turn while ticket `ticket` is open.
    pub(super) fn in_ticket(&self, d: &mut Draft<'_>, ticket: u64, event: Event) {
        d.intent = None;
        let position = d.ctx.queue_position;
        match event {
            Event::Command(c) if c == "help" => d.say(format!(
                "{}\n\n{}",
                texts::help(&self.catalog),
                texts::ticket_still_open(ticket)
            )),
            Event::Command(c) if c == "human" => {
                d.say_varied(&[
                    texts::already_with_person(ticket, position),
                    texts::ticket_status(ticket, position, 1),
                ]);
            }
            Event::Command(_) | Event::Stale | Event::Empty => d.say_varied(&[
                texts::ticket_still_open(ticket),
                texts::ticket_status(ticket, position, 1),
            ]),
            // The transcript keeps what was written (the start of a long message) for staff.
            Event::Text(a) => {
                d.outcome = Outcome::AddedToTicket;
                d.act = self.act_in_context(&a, AnswerContext::Ticket, None);
                match d.act.map(|g| g.act) {
                    Some(Act::Status) => {
                        d.say_varied(&[
                            texts::ticket_status(ticket, position, 0),
                            texts::ticket_status(ticket, position, 1),
                        ]);
                        if crate::dialogue::context::calls_out_text(&a.normalised) {
                            d.lead(texts::HERE);
                        }
                    }
                    Some(Act::Human) => d.say_varied(&[
                        texts::already_with_person(ticket, position),
                        texts::ticket_status(ticket, position, 1),
                    ]),
                    _ => d.say_varied(&[
                        texts::added_to_ticket(ticket, 0),
                        texts::added_to_ticket(ticket, 1),
                    ]),
                }
            }
            Event::Action(_) | Event::TooLong => {
                d.outcome = Outcome::AddedToTicket;
                d.say_varied(&[
                    texts::added_to_ticket(ticket, 0),
                    texts::added_to_ticket(ticket, 1),
                ]);
            }
        }
    }
}
