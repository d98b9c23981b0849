"""The CDK app that deploys shipline on AWS (see ``docs/aws.md``)."""
