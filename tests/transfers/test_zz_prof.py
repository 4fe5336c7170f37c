import cProfile, pstats, io
from tests.transfers.test_video_to_s3 import operator, task_xcom, make_context
def test_prof(video_server, route_path, s3_client, s3_bucket, aws_conn_id, small_mp4):
    url = video_server.add(route_path, small_mp4)
    operator(s3_bucket, aws_conn_id, task_xcom(url)).execute(make_context())
    pr = cProfile.Profile(); pr.enable()
    operator(s3_bucket, aws_conn_id, url).execute(make_context())
    pr.disable()
    s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats("cumulative").print_stats(25); print(s.getvalue())
