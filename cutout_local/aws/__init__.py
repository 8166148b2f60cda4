"""Emulated AWS for the local stack: the real ``template.yaml`` and ASL deployed on moto, each Lambda
execution environment a child process.

    from cutout_local.aws import LocalAws

    with LocalAws(template="template.yaml", parameters={...}) as aws:
        aws.client("s3").put_object(Bucket=aws.outputs["InputBucketName"], Key="incoming/a.png", Body=...)
        [execution] = aws.wait_for_executions(n=1)

Modules: ``emulator`` (LocalAws), ``sam`` (package, translate, check, create_stack), ``cfn_models``
(what moto's CloudFormation lacks, and the table of what is emulated), ``lambda_runtime`` (Lambda execution
environments as child processes, concurrent; LambdaContext), ``lambda_worker`` (the child), ``moto_server``
(moto's server, one request at a time), ``sqs_poller`` (SQS -> Lambda like the Lambda poller, concurrent),
``eventbridge`` (ended executions' status change events -> the rules' Lambda targets), ``patches`` (every
moto-private patch point, pinned).
"""

from cutout_local.aws.emulator import LocalAws
from cutout_local.aws.lambda_runtime import Invocation, LambdaContext
from cutout_local.aws.sam import UnsupportedTemplateError

__all__ = ["Invocation", "LambdaContext", "LocalAws", "UnsupportedTemplateError"]
