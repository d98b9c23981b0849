"""An SNS notifier: shipline's notifications published to a topic."""

from __future__ import annotations

import json
from typing import Any

from shipline.notify.base import Notification

SUBJECT_LIMIT = 100
"""SNS refuses subjects of 100 characters or more, or with line breaks."""


class SnsNotifier:
    """Publish each notification to one SNS topic (implements ``shipline.notify.Notifier``).

    The message is the notification's text; ``kind`` travels as a message attribute
    so subscribers can filter (upload, success, failure, nightly).
    """

    def __init__(self, client: Any, topic_arn: str) -> None:
        self.client = client
        self.topic_arn = topic_arn

    def send(self, notification: Notification) -> None:
        """Publish the notification; raise if SNS refuses it."""
        self.client.publish(
            TopicArn=self.topic_arn,
            Subject=sns_subject(notification.subject),
            Message=json.dumps(
                {
                    "kind": notification.kind,
                    "subject": notification.subject,
                    "text": notification.text,
                    "details": notification.details,
                },
                default=str,
            ),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": notification.kind}},
        )


def sns_subject(subject: str) -> str:
    """A subject SNS accepts: printable ASCII, one line, under 100 characters."""
    clean = "".join(c if 32 <= ord(c) < 127 else "?" for c in subject.replace("\n", " "))
    return clean if len(clean) < SUBJECT_LIMIT else clean[: SUBJECT_LIMIT - 2] + "~"
