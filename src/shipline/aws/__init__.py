"""shipline on AWS: Lambda handlers over the same facade the CLI and the API call.

``shipline.aws.handlers`` holds the entry points; ``shipline.aws.config`` reads the
settings the CDK stack (``infra/``) sets as environment variables;
``shipline.aws.events_table`` is the DynamoDB table's item shape;
``shipline.aws.container`` keeps a container's pipeline between invocations;
``shipline.aws.warehouse`` builds the warehouse's URL from its secret; and
``shipline.aws.errors`` classes AWS failures as shipline's transient or terminal errors.
"""
