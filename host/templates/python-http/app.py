"""{{name}}: a nimbus HTTP component in Python. The SDK is in ./nimbus (nimbus.http here;
nimbus.kv, nimbus.objects, nimbus.auth, nimbus.queue and nimbus.config once nimbus.toml grants
what they use)."""

from nimbus.http import Router

router = Router()


@router.get("/{{name}}")
def hello(req):
    name = req.query.get("name", "world")
    return {"message": f"Hello, {name}!", "component": req.ctx.component}


HttpHandler = router.handler()
