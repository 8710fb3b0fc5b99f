"""The primer's hello in Python: GET /py/hello?name=Ann."""

from nimbus.http import Router

router = Router()


@router.get("/py/hello")
def hello(req):
    name = req.query.get("name", "world")
    return {"message": f"Hello, {name}!", "requestId": req.ctx.request_id, "language": "python"}


HttpHandler = router.handler()
