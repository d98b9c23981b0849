"""shipline on AWS: Lambda handlers over the same facade the CLI and the API call.

``shipline.aws.handlers`` holds the entry points; ``shipline.aws.config`` reads the
settings the CDK stack (``infra/``) sets as environment variables.
"""
