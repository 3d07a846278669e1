//! `pingpost-loadgen` and `pingpost-echo`. The pure parts (the open-loop timetable, the
//! consumer mix, the report) live in their own modules so they can be tested without a
//! network; [`run`] drives real HTTP; [`echo`] is the HTTP ceiling every figure is divided by.

pub mod echo;
pub mod mix;
pub mod report;
pub mod run;
pub mod schedule;
