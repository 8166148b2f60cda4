"""moto serves one request at a time (cutout_local/aws/moto_server.py): each AWS call is atomic, as on AWS,
however many callers there are; and a request that waits (an SQS long poll) lets the others through."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from cutout_local.aws.moto_server import DispatchLock
from tests.local_stack.aws.helpers import create_probe, invoke

THREADS, ATTEMPTS, LIMIT = 40, 10, 300  # 400 conditional increments of one item, at most 300 allowed


def test_concurrent_conditional_updates_of_one_item_are_atomic(aws, eager_thread_switches):
    table = aws.outputs["JobsTableName"]
    start = threading.Barrier(THREADS)

    def increment(_):
        dynamodb = aws.client("dynamodb")
        won, lost = [], 0
        start.wait()
        for _ in range(ATTEMPTS):
            try:
                answer = dynamodb.update_item(
                    TableName=table,
                    Key={"pk": {"S": "counter"}},
                    UpdateExpression="SET n = if_not_exists(n, :zero) + :one",
                    ConditionExpression="attribute_not_exists(n) OR n < :limit",
                    ExpressionAttributeValues={
                        ":zero": {"N": "0"},
                        ":one": {"N": "1"},
                        ":limit": {"N": str(LIMIT)},
                    },
                    ReturnValues="UPDATED_NEW",
                )
                won.append(int(answer["Attributes"]["n"]["N"]))
            except dynamodb.exceptions.ConditionalCheckFailedException:
                lost += 1
        return won, lost

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(increment, range(THREADS)))

    assert sorted(n for won, _ in results for n in won) == list(range(1, LIMIT + 1))  # each value once
    assert sum(lost for _, lost in results) == THREADS * ATTEMPTS - LIMIT


def test_a_long_poll_lets_other_requests_through_and_gets_the_message_they_send(aws):
    queue = aws.outputs["IngestDeadLetterQueueUrl"]  # no event source mapping: nothing else receives
    received = {}
    poll = threading.Thread(
        target=lambda: received.update(aws.client("sqs").receive_message(QueueUrl=queue, WaitTimeSeconds=5))
    )
    began = time.monotonic()
    poll.start()
    time.sleep(0.5)  # it is waiting now

    aws.client("s3").list_buckets()
    other = time.monotonic() - began - 0.5
    aws.client("sqs").send_message(QueueUrl=queue, MessageBody="wake up")
    poll.join(10)

    assert other < 1.0  # not held up until the long poll ends
    assert [m["Body"] for m in received["Messages"]] == ["wake up"]
    assert time.monotonic() - began < 4  # woken by the message, not by its 5 s


def test_an_invoke_does_not_queue_for_the_lock_it_would_only_let_go_of(aws):
    create_probe(aws, "probe")
    invoke(aws, "probe")  # a warm environment: what follows waits for nothing else
    lock = aws._server.lock
    answered = []
    caller = threading.Thread(target=lambda: answered.append(invoke(aws, "probe")))

    with lock:  # another request is being served, for as long as this block runs
        caller.start()
        caller.join(10)
        served_meanwhile = not caller.is_alive()

    assert served_meanwhile
    [(payload, error)] = answered
    assert error is None
    assert payload["calls"] == 2


def test_the_dispatch_lock_is_reentrant_serves_waiters_in_order_and_can_be_let_go_while_waiting():
    lock = DispatchLock()
    order = []

    def request(n):
        with lock:
            order.append(n)

    with lock, lock:  # re-entrant
        waiters = [threading.Thread(target=request, args=(n,)) for n in range(5)]
        for thread in waiters:
            thread.start()
            time.sleep(0.05)  # queued before the next one asks
        assert order == []
        with lock.released():  # as a Lambda Invoke does while its function runs
            for thread in waiters:
                thread.join(5)
        assert order == [0, 1, 2, 3, 4]  # all served meanwhile, first come first served
        late = threading.Thread(target=request, args=(5,))
        late.start()
        late.join(0.2)
        assert late.is_alive()  # held again after the block
    late.join(5)
    assert order == [0, 1, 2, 3, 4, 5]
