"""What each problem `code` means, in one line: the document's problem responses list the codes of
an operation with these lines, so a 409 says which conflicts that operation can meet rather than
"conflicts with existing data" (`app.api.openapi`). Every code documented under 401, 403 or 409
needs a line here (`tests/test_openapi.py` fails otherwise); other statuses use them when
every code of the response has one.

A line says what happened, for a client developer, without the operation's name: the
operation's own summary says that.
"""

from __future__ import annotations

MEANINGS: dict[str, str] = {
    # --- signing in and the access token (401, and 403 where the account is refused) ---
    "auth.unauthenticated": "no access token was sent (`Authorization: Bearer …`).",
    "auth.token_invalid": "the access token is malformed, forged or of another deployment.",
    "auth.token_expired": "the access token has expired: refresh it and repeat the request.",
    "auth.session_expired": "the login has expired: log in again.",
    "auth.session_revoked": "the login was ended (logout, a lock, a new password or phone, a "
    "reused refresh token): log in again.",
    "auth.account_locked": "the account is locked by an officer; nothing works until it is "
    "unlocked.",
    "auth.invalid_credentials": "the phone number and password do not match an account with "
    "a password (the same answer whether the number is known or not).",
    "auth.otp_invalid": "the code is wrong, already used, or its challenge is unknown.",
    "auth.otp_expired": "the code has expired: ask for a new one.",
    "auth.firebase_invalid": "the Firebase ID token is invalid, expired, or names a phone "
    "that is not on the roster.",
    "auth.refresh_invalid": "the refresh token is unknown, expired or its login has ended.",
    "auth.refresh_reused": "the refresh token was already used: the whole login is ended, as "
    "a stolen copy would be.",
    "auth.step_up_required": "setting a password without the current one needs an SMS-code "
    "login within the last few minutes.",
    "auth.wrong_password": "the current password given is wrong.",
    "ops.metrics_token_invalid": "the operators' metrics token is missing or wrong.",
    # --- scope and account control (403) ---
    "scope.forbidden": "the object is visible to you, but your roles do not allow this here.",
    "member.holds_higher_role": "the member holds a role whose scope is not strictly inside "
    "yours (an equal or higher officer).",
    "member.own_account": "you cannot do this to your own account.",
    "role.cannot_grant": "the role, or its org, is beyond what you hold: nobody grants more "
    "than they have.",
    "role.cannot_revoke": "the grant is not strictly inside your scope (an equal or higher role).",
    "role.own_grant": "you cannot revoke your own role.",
    "article.pin_forbidden": "only an approver of the org pins or unpins an article.",
    "task.due_date_forbidden": "only the branch's secretary or deputy changes a task's due date.",
    "meeting.not_summoned": "you are not summoned to this meeting.",
    "meeting.not_upper_level": "only leadership of a committee above the branch gives the "
    "upper-level rating.",
    "motion.not_eligible": "probationary and exempt members do not vote.",
    "motion.not_present": "check in as present before voting.",
    "quiz.not_eligible": "the quiz is not for your branch (or you are exempt from it).",
    "quiz.not_your_attempt": "the attempt belongs to another member.",
    "survey.not_eligible": "the survey is not for your branch.",
    # --- conflicts with the state of the data (409) ---
    "resource.conflict": "another request changed the same data at the same moment: retry.",
    "idempotency.in_flight": "a request with this `Idempotency-Key` was claimed and not finished "
    "by an earlier release of the server (a retry sent while the first still runs waits for it "
    "instead): retry in a moment.",
    "member.phone_taken": "another member has this phone number.",
    "member.card_number_taken": "another member has this party card number.",
    "member.phone_unchanged": "the new phone number is the member's current one.",
    "member.archived": "the member has left the rolls (archived); their record is read-only.",
    "membership.already_exempt": "the member is already exempt.",
    "membership.not_exempt": "the member is not exempt.",
    "membership.not_probationary": "only a probationary member becomes a full member.",
    "membership.same_branch": "the member already belongs to that branch.",
    "membership.residence_same": "the member is already attached to that branch where they live.",
    "membership.no_residence": "the member has no residence attachment to end.",
    "membership.date_before_current": "the effective date is before the start of the member's "
    "current period (history cannot be rewritten).",
    "org.code_taken": "another org has this code.",
    "org.parent_is_branch": "a branch has no child orgs.",
    "org.same_parent": "the org is already under that parent.",
    "org.inactive": "the org was dissolved or merged.",
    "org.is_root": "the root org of the deployment cannot be dissolved.",
    "org.not_empty": "the org still has child orgs or members: move or merge them first.",
    "org.changed": "the org changed meanwhile (another reorganisation): retry.",
    "org.date_before_current": "the effective date is before the org's current period.",
    "role.already_granted": "the member already holds this role on this org.",
    "role.last_admin": "this is the last deployment admin: grant the role to someone else first.",
    "document.not_draft": "the document is published: it cannot be edited; draft a new one.",
    "document.already_published": "the document is already published.",
    "document.not_published": "the document is not published.",
    "document.already_relayed": "your org has already relayed this document.",
    "document.too_many_files": "the document already has the most files it may hold.",
    "article.not_editable": "only a draft or a rejected article is edited.",
    "article.invalid_transition": "the article's current status does not allow this step.",
    "article.not_published": "the article is not published.",
    "packet.confidential_in_public": "a confidential document cannot go into a public packet.",
    "packet.too_many_items": "the packet already has the most items it may hold.",
    "upload.already_attached": "the upload is already used by something else.",
    "upload.not_ready": "the upload has not finished.",
    "import.not_checked": "the import is applied only after its dry run passed.",
    "import.already_applied": "the import was already applied.",
    "import.report_not_ready": "the import's report is not ready yet.",
    "meeting.invalid_status": "the meeting's status does not allow this (draft, announced, "
    "started, closed …).",
    "meeting.cancelled": "the meeting was cancelled.",
    "meeting.closed": "the meeting is closed: it no longer changes.",
    "meeting.use_reschedule": "the meeting is announced: change its time by rescheduling it "
    "(with a reason).",
    "meeting.too_early": "the meeting's start time has not come yet.",
    "meeting.not_started": "the meeting is not in progress.",
    "meeting.not_closed": "only a closed meeting is rated.",
    "meeting.checkin_closed": "the meeting does not take check-ins now.",
    "meeting.checkin_outside_window": "outside the meeting's check-in window.",
    "meeting.already_checked_in": "the member is already checked in as present.",
    "meeting.excuse_closed": "the meeting no longer takes excuses.",
    "meeting.guest_not_upper_level": "a guest must be a member holding a live role on an org above "
    "the branch that reads its meetings (leadership or organisation officer of a committee above).",
    "meeting.guest_is_member": "the member belongs to the branch: they are summoned as a member, "
    "not invited as a guest.",
    "meeting.guest_not_found": "the member is not a guest of this meeting.",
    "meeting.guest_checked_in": "the guest has checked in: the invitation can no longer be "
    "withdrawn.",
    "motion.closed": "the vote is closed.",
    "motion.already_voted": "you have already voted.",
    "motion.has_ballots": "ballots were already cast in the app: a show of hands cannot "
    "replace them.",
    "motion.secret": "the vote is secret: cast it through `secret-ballots`.",
    "motion.not_secret": "the vote is open, not secret.",
    "motion.show_of_hands": "the vote is counted by show of hands, not in the app.",
    "quiz.not_open": "the quiz is not open now.",
    "quiz.already_passed": "you have already passed the quiz.",
    "quiz.no_attempts_left": "you have used every attempt.",
    "quiz.attempt_submitted": "the attempt was already submitted.",
    "quiz.attempt_expired": "the attempt's time is up.",
    "survey.not_open": "the survey is not open now.",
    "survey.already_answered": "you have already answered the survey.",
}
