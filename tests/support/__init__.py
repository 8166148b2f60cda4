"""Test support, in one place; tests import from here, never from a conftest module or another test.

- ``events``        the sample events in events/ (the files ``sam local invoke`` uses), and the S3
                    notification of a real upload;
- ``images``        test images made with Pillow;
- ``lambda_context`` the Lambda context for a handler (the local runtime's own ``LambdaContext``);
- ``template_env``  the functions' environment and the DynamoDB tables, derived from template.yaml
                    (standard library only at import: the benchmarks use it too);
- ``world``         the functional tests' world (handlers against moto and the local provider);
- ``pipeline``      the end-to-end tests' pipeline on the local stack, and its factory;
- ``deployed``      the deployed suite's view of a stack, through AWS APIs and DescribeStacks only;
- ``fault_matrix``  the fault matrix's rows and the run and check of one row.

This package imports nothing itself: the cold-start benchmark imports ``template_env`` in its measured
interpreters."""
