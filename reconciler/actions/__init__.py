"""Actions as steps: what each verb (build, install, enable, disable, verify, delete, backup) does
on a server, as pure scripts rendered from a `SiteContext`/`PlatformContext` just before they run.
"""
