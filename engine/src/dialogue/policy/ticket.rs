//! While a ticket is open: everything the user writes goes to staff, and follow-ups are
//! answered for what they are (a status question gets the queue position).

use super::{Draft, Engine, Event, Outcome};
use crate::acts::Act;
use crate::dialogue::AnswerContext;

impl Engine {
    /// A turn while ticket `ticket` is open.
    pub(super) fn in_ticket<'c>(&'c self, d: &mut Draft<'c>, ticket: u64, event: Event) {
        d.intent = None;
        let position = d.ctx.queue_position;
        match event {
            Event::Command(c) if c == "help" => d.say(format!(
                "{}\n\n{}",
                d.t.help(),
                d.t.ticket_still_open(ticket)
            )),
            Event::Command(c) if c == "human" => {
                d.say_varied(&[
                    d.t.already_with_person(ticket, position),
                    d.t.ticket_status(ticket, position, 1),
                ]);
            }
            Event::Command(_) | Event::Language(_) | Event::Stale | Event::Empty => {
                d.say_varied(&[
                    d.t.ticket_still_open(ticket),
                    d.t.ticket_status(ticket, position, 1),
                ])
            }
            // The transcript keeps what was written (the start of a long message) for staff.
            Event::Text(a) => {
                d.outcome = Outcome::AddedToTicket;
                d.act = self.act_in_context(&a, AnswerContext::Ticket, None);
                match d.act.map(|g| g.act) {
                    Some(Act::Status) => {
                        d.say_varied(&[
                            d.t.ticket_status(ticket, position, 0),
                            d.t.ticket_status(ticket, position, 1),
                        ]);
                        if self.calls_out(&a) {
                            d.lead(d.t.s("here"));
                        }
                    }
                    Some(Act::Human) => d.say_varied(&[
                        d.t.already_with_person(ticket, position),
                        d.t.ticket_status(ticket, position, 1),
                    ]),
                    _ => d.say_varied(&[
                        d.t.added_to_ticket(ticket, 0),
                        d.t.added_to_ticket(ticket, 1),
                    ]),
                }
            }
            Event::Action(_) | Event::TooLong => {
                d.outcome = Outcome::AddedToTicket;
                d.say_varied(&[
                    d.t.added_to_ticket(ticket, 0),
                    d.t.added_to_ticket(ticket, 1),
                ]);
            }
        }
    }
}
