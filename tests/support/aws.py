"""The IAM policy the README asks for, as the AWS tests grant it to moto's users."""

from __future__ import annotations

from typing import Any

#: The actions of the README's least-privilege policy. moto matches IAM resources only
#: against "*", so the tests scope by action; the README scopes by secret ARN as well.
LEAST_PRIVILEGE_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "SyncdManagesItsSecrets",
            "Effect": "Allow",
            "Action": [
                "secretsmanager:DescribeSecret",
                "secretsmanager:CreateSecret",
                "secretsmanager:PutSecretValue",
                "secretsmanager:TagResource",
            ],
            "Resource": "*",
        }
    ],
}
