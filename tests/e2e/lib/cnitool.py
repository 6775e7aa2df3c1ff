#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A cnitool for tests: runs a .conflist the way libcni does.

  cnitool.py add|check|del|gc|status CONFLIST NETNS [options]

ADD runs the plugins in order, each getting the previous one's result as
prevResult, and caches the final result (as libcni does under
/var/lib/cni/results); CHECK runs them in order and DEL in reverse order,
both with the cached result as prevResult. GC and STATUS run every plugin
once (spec 1.1). Each plugin's network config is its conflist entry plus
the list's cniVersion and name, and runtimeConfig with only the
capabilities the plugin declares. Plugins are found in --cni-path.

Prints the final result (ADD) or the failing plugin's output, and exits
with 0, or with the failing plugin's error code (2 if it gave none).
Debian ships no cnitool, hence this one.
"""
import argparse
import json
import os
import subprocess
import sys


def plugin_conf(conflist, plugin, runtime_config, prev):
    conf = dict(plugin)
    conf["cniVersion"] = conflist["cniVersion"]
    conf["name"] = conflist["name"]
    caps = plugin.get("capabilities", {})
    rc = {k: v for k, v in runtime_config.items() if caps.get(k)}
    if rc:
        conf["runtimeConfig"] = rc
    if prev is not None:
        conf["prevResult"] = prev
    return conf


def run_plugin(args, command, conf):
    exe = None
    for d in args.cni_path.split(":"):
        cand = os.path.join(d, conf["type"])
        if os.access(cand, os.X_OK):
            exe = cand
            break
    if exe is None:
        print(json.dumps({"code": 2, "msg": "plugin %s not found" %
                          conf["type"]}))
        sys.exit(2)
    env = dict(os.environ)
    env.update({
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": args.id,
        "CNI_NETNS": args.netns,
        "CNI_IFNAME": args.ifname,
        "CNI_PATH": args.cni_path,
    })
    if args.args:
        env["CNI_ARGS"] = args.args
    p = subprocess.run([exe], input=json.dumps(conf).encode(), env=env,
                       capture_output=True, timeout=120)
    sys.stderr.write(p.stderr.decode(errors="replace"))
    out = p.stdout.decode(errors="replace")
    if p.returncode != 0:
        print(out, end="")
        try:
            code = int(json.loads(out).get("code", 2))
        except (ValueError, AttributeError):
            code = 2
        sys.exit(min(max(code, 1), 255))
    return out


def cache_path(args, conflist):
    return os.path.join(args.cache, "%s-%s-%s" % (conflist["name"], args.id,
                                                  args.ifname))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command",
                    choices=["add", "check", "del", "gc", "status"])
    ap.add_argument("conflist")
    ap.add_argument("netns", nargs="?", default="")
    ap.add_argument("--ifname", default="eth0")
    ap.add_argument("--id", default="")
    ap.add_argument("--args", default="")
    ap.add_argument("--cni-path", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--runtime-config", default="{}")
    ap.add_argument("--valid", default="[]",
                    help="GC: JSON list of {containerID, ifname}")
    args = ap.parse_args()
    with open(args.conflist) as f:
        conflist = json.load(f)
    if not args.id:
        args.id = os.path.basename(args.netns)
    rc = json.loads(args.runtime_config)
    plugins = conflist["plugins"]
    cache = cache_path(args, conflist)
    os.makedirs(args.cache, exist_ok=True)

    if args.command == "add":
        prev = None
        for pl in plugins:
            out = run_plugin(args, "ADD", plugin_conf(conflist, pl, rc, prev))
            prev = json.loads(out)
        with open(cache, "w") as f:
            json.dump(prev, f)
        print(json.dumps(prev, indent=1))
    elif args.command in ("check", "del"):
        prev = None
        if os.path.exists(cache):
            with open(cache) as f:
                prev = json.load(f)
        order = plugins if args.command == "check" else plugins[::-1]
        for pl in order:
            run_plugin(args, args.command.upper(),
                       plugin_conf(conflist, pl, rc, prev))
        if args.command == "del" and os.path.exists(cache):
            os.unlink(cache)
    else:
        for pl in plugins:
            conf = plugin_conf(conflist, pl, {}, None)
            if args.command == "gc":
                conf["cni.dev/valid-attachments"] = json.loads(args.valid)
            run_plugin(args, args.command.upper(), conf)


if __name__ == "__main__":
    main()
