"""The Kubernetes manifests' pod run on a real engine, and the full image with real MCP servers (issue 13).

    pod_test.py REPOSITORY

For the base and the sighup overlay: `kubectl kustomize` renders the Deployment; each of its containers runs as
`docker run` with the manifest's own argv, env, user and group (fsGroup), read-only root file system, dropped
capabilities, no privilege escalation, memory and CPU limits, and its readiness probe as the container's health
check; the pod's shared network (and, with shareProcessNamespace, PID) namespace is a pause container's. The
ConfigMap is a host directory published with the kubelet's update algorithm (a timestamped directory, the
`..data` symlink swapped by rename), the Secrets are directories with the manifest's file modes, the emptyDirs
world-writable directories. Then a ConfigMap update must reach the gateway through the sidecar.

First the image with its own command line (ENTRYPOINT, CMD, HEALTHCHECK); last, hotswap:full runs
examples/full/catalog.yaml: mcp-server-time and mcp-server-fetch started by uvx.
"""

import datetime
import os
import shutil
import sys
import tempfile
import time

import yaml

sys.path.insert(0, os.path.dirname(__file__))

from compose_test import call, health_of, note, run, summary, tools, wait_for  # noqa: E402

IMAGE = "hotswap:latest"


class ConfigMapDirectory:
    """The kubelet's atomic writer: files are links through `..data`, a link to a timestamped directory that an
    update replaces by renaming a new link over it."""

    def __init__(self, path):
        self.path = path
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o755)

    def publish(self, files):
        stamp = "..%s.%d" % (datetime.datetime.now().strftime("%Y_%m_%d_%H_%M_%S"), time.monotonic_ns())
        payload = os.path.join(self.path, stamp)
        os.mkdir(payload)
        for name, text in files.items():
            with open(os.path.join(payload, name), "w") as f:
                f.write(text)
            os.chmod(os.path.join(payload, name), 0o644)
        os.chmod(payload, 0o755)
        previous = os.path.realpath(os.path.join(self.path, "..data")) if os.path.islink(
            os.path.join(self.path, "..data")) else None
        os.symlink(stamp, os.path.join(self.path, "..data_tmp"))
        os.rename(os.path.join(self.path, "..data_tmp"), os.path.join(self.path, "..data"))
        for name in files:
            link = os.path.join(self.path, name)
            if not os.path.islink(link):
                os.symlink(os.path.join("..data", name), link)
        if previous:
            shutil.rmtree(previous)


def render(kustomization):
    documents = yaml.safe_load_all(run("kubectl", "kustomize", kustomization))
    return next(d for d in documents if d and d.get("kind") == "Deployment")


def probe_command(container):
    probe = container["readinessProbe"]["httpGet"]
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    port = ports.get(probe["port"], probe["port"])
    return f"hotswap healthcheck http://127.0.0.1:{port}{probe['path']}"


def docker_run_flags(pod, container, volumes, name):
    """The flags that give `docker run` what the kubelet gives this container."""
    pod_security = pod.get("securityContext", {})
    security = container.get("securityContext", {})
    flags = ["--name", name, "--network", "container:pod-pause"]
    if pod.get("shareProcessNamespace"):
        flags += ["--pid", "container:pod-pause"]
    user = security.get("runAsUser", pod_security.get("runAsUser"))
    group = security.get("runAsGroup", pod_security.get("runAsGroup"))
    if user is not None:
        flags += ["--user", f"{user}:{group if group is not None else user}"]
    if "fsGroup" in pod_security:
        flags += ["--group-add", str(pod_security["fsGroup"])]
    if security.get("readOnlyRootFilesystem"):
        flags.append("--read-only")
    for capability in security.get("capabilities", {}).get("drop", []):
        flags += ["--cap-drop", capability]
    if security.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    limits = container.get("resources", {}).get("limits", {})
    if "memory" in limits:
        flags += ["--memory", limits["memory"].replace("Mi", "m").replace("Gi", "g")]
    if "cpu" in limits:
        cpu = limits["cpu"]
        flags += ["--cpus", str(int(cpu[:-1]) / 1000 if str(cpu).endswith("m") else cpu)]
    for env in container.get("env", []):
        flags += ["--env", f"{env['name']}={env['value']}"]
    for mount in container.get("volumeMounts", []):
        assert "subPath" not in mount, f"{name}: subPath mounts never see ConfigMap updates"
        source = volumes[mount["name"]]
        flags += ["--volume", f"{source}:{mount['mountPath']}{':ro' if mount.get('readOnly') else ''}"]
    flags += ["--health-cmd", probe_command(container), "--health-interval", "2s", "--health-retries", "3"]
    return flags


def pod_run(root, kustomization, port):
    deployment = render(os.path.join(root, kustomization))
    pod = deployment["spec"]["template"]["spec"]
    work = tempfile.mkdtemp(prefix="hotswap-pod.")
    try:
        volumes = {}
        catalog = ConfigMapDirectory(os.path.join(work, "catalog"))
        with open(os.path.join(root, "deploy/kubernetes/base/catalog.yaml")) as f:
            initial = f.read()
        catalog.publish({"catalog.yaml": initial})
        keys = os.path.join(work, "keys")
        os.makedirs(keys)
        run("docker", "run", "--rm", "--user", "0", "-v", f"{keys}:/out", IMAGE, "keygen", "--name", "sidecar",
            "--out", "/out")
        for volume in pod["volumes"]:
            path = os.path.join(work, volume["name"])
            if "configMap" in volume:
                path = catalog.path
            elif "secret" in volume:
                os.makedirs(path)
                wanted = {"hotswap-signing-key": "sidecar.key.pem", "hotswap-verify-key": "sidecar.pub.pem"}
                file = wanted[volume["secret"]["secretName"]]
                shutil.copy(os.path.join(keys, file), os.path.join(path, file))
                os.chown(os.path.join(path, file), 0, pod["securityContext"].get("fsGroup", 0))
                os.chmod(os.path.join(path, file), volume["secret"].get("defaultMode", 0o644))
            elif "emptyDir" in volume:
                os.makedirs(path)
                os.chmod(path, 0o1777)
            volumes[volume["name"]] = path
        run("docker", "rm", "-f", "pod-pause", "pod-gateway", "pod-sidecar", check=False)
        run("docker", "run", "-d", "--name", "pod-pause", "-p", f"127.0.0.1:{port}:4444", "--entrypoint", "sleep",
            IMAGE, "infinity")
        start = time.monotonic()
        for container in pod["containers"]:
            name = f"pod-{container['name']}"
            run("docker", "run", "-d", *docker_run_flags(pod, container, volumes, name), container["image"],
                *container.get("args", []))
        for container in pod["containers"]:
            name = f"pod-{container['name']}"
            wait_for(f"{name} healthy", lambda: health_of(name) == "healthy", timeout=90)
        label = os.path.basename(kustomization)
        note(f"pod ({label}): up to healthy", f"{time.monotonic() - start:.1f} s")
        for container in pod["containers"]:
            live = container["livenessProbe"]["httpGet"]["path"]
            port_name = container["livenessProbe"]["httpGet"]["port"]
            number = {p["name"]: p["containerPort"] for p in container["ports"]}[port_name]
            run("docker", "exec", f"pod-{container['name']}", "hotswap", "healthcheck",
                f"http://127.0.0.1:{number}{live}")
        assert "echo__echo" in tools(port)
        changed = initial + """  - id: configmap
    runtime:
      type: local-process
      command: mcp-demo-server
      args: ["--name", "configmap"]
"""
        start = time.monotonic()
        catalog.publish({"catalog.yaml": changed})

        def served():
            ok, text = call(port, "configmap__echo", {"text": "kubelet"})
            return ok and "kubelet" in text

        wait_for(f"pod ({label}): the ConfigMap update served", served, timeout=30)
        note(f"pod ({label}): ConfigMap swap to callable", f"{time.monotonic() - start:.2f} s")
    except Exception:
        for name in ("pod-gateway", "pod-sidecar"):
            print(f"---- {name}\n{run('docker', 'logs', '--tail', '40', name, check=False)}")
        raise
    finally:
        run("docker", "rm", "-f", "pod-gateway", "pod-sidecar", "pod-pause", check=False)
        shutil.rmtree(work, ignore_errors=True)


def default_command(port):
    """The Dockerfile's own ENTRYPOINT, CMD and HEALTHCHECK: `docker run hotswap:latest` with nothing else."""
    run("docker", "rm", "-f", "bare-gateway", check=False)
    start = time.monotonic()
    run("docker", "run", "-d", "--name", "bare-gateway", "-p", f"127.0.0.1:{port}:4444", IMAGE)
    try:
        wait_for("the image's HEALTHCHECK", lambda: health_of("bare-gateway") == "healthy", timeout=90)
        note("docker run hotswap:latest (default command): up to healthy", f"{time.monotonic() - start:.1f} s")
        ok, text = call(port, "echo__echo", {"text": "bare"})
        assert ok and "bare" in text, text
        top = run("docker", "top", "bare-gateway", "-eo", "pid,ppid,comm")
        assert "tini" in top and "hotswap" in top, top
    except Exception:
        print(f"---- bare-gateway\n{run('docker', 'logs', '--tail', '40', 'bare-gateway', check=False)}")
        raise
    finally:
        run("docker", "rm", "-f", "bare-gateway", check=False)


def full_image(root, port):
    """hotswap:full starts real servers from PyPI with uvx, as the README's full example does."""
    directory = os.path.join(root, "examples", "full")
    run("docker", "rm", "-f", "full-gateway", check=False)
    start = time.monotonic()
    # Read-only root, as in a pod: /tmp writable and executable (uvx runs servers from its cache there), and the
    # control socket's directory the gateway's own.
    run("docker", "run", "-d", "--name", "full-gateway", "--read-only", "--tmpfs", "/tmp:mode=1777,exec",
        "--tmpfs", "/run/hotswap:uid=10001,gid=10001,mode=0700",
        "--cap-drop", "ALL", "-v", f"{directory}:/etc/hotswap:ro", "-p", f"127.0.0.1:{port}:4444",
        # The host's CA bundle, as behind a TLS-intercepting proxy (uvx reaches PyPI with the system's CAs).
        "-v", "/etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro",
        "hotswap:full", "gateway", "--config=/etc/hotswap", "--listen=0.0.0.0:4444", "--allow-host=127.0.0.1")
    try:
        wait_for("the time server's tools", lambda: "time__get_current_time" in tools(port), timeout=180,
                 interval=0.5)
        note("full image: start to mcp-server-time's tools (uvx fetches it)", f"{time.monotonic() - start:.1f} s")
        ok, text = call(port, "time__get_current_time", {"timezone": "UTC"})
        assert ok and "UTC" in text, text
        wait_for("the fetch server's tools", lambda: "fetch__fetch" in tools(port), timeout=180, interval=0.5)
        note("full image: mcp-server-time and mcp-server-fetch", "served")
    except Exception:
        print(f"---- full-gateway\n{run('docker', 'logs', '--tail', '60', 'full-gateway', check=False)}")
        raise
    finally:
        run("docker", "rm", "-f", "full-gateway", check=False)


def main():
    root = sys.argv[1]
    try:
        default_command(4449)
        pod_run(root, "deploy/kubernetes/base", 4446)
        pod_run(root, "deploy/kubernetes/overlays/sighup", 4447)
        full_image(root, 4448)
    except Exception as e:
        print(f"FAILED: {e}", flush=True)
        return 1
    summary("pods and the full image")
    return 0


if __name__ == "__main__":
    sys.exit(main())
