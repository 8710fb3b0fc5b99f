"""nimbus for Python guests built with componentize-py.

Import the module of each capability the component is granted: ``nimbus.http`` (any record
handler), ``nimbus.kv``, ``nimbus.objects``, ``nimbus.auth``, ``nimbus.auth_admin``,
``nimbus.queue``, ``nimbus.config``, ``nimbus.events``. A module of a capability the component's world does not import fails at
build time.
"""
