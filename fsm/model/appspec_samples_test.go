package model

// The two full examples of §2.11 of the Drove API reference, verbatim.

const sampleAppJSON = `
{
    "name": "TEST_APP",
    "version": "1",
    "type": "SERVICE",
    "executable": {
        "type": "DOCKER",
        "url": "ghcr.io/appform-io/perf-test-server-httplib",
        "dockerPullTimeout": "100 seconds"
    },
    "exposedPorts": [ { "name": "main", "port": 8000, "type": "HTTP" } ],
    "volumes": [],
    "configs" : [
        { "type" : "INLINE", "localFilename": "/testfiles/drove.txt", "data" : "RHJvdmUgdGVzdA==" }
    ],
    "resources": [ { "type": "CPU", "count": 1 }, { "type": "MEMORY", "sizeInMB": 128 } ],
    "placementPolicy": { "type": "ANY" },
    "healthcheck": {
        "mode": {
            "type": "HTTP", "protocol": "HTTP", "portName": "main", "path": "/", "verb": "GET",
            "successCodes": [ 200 ], "payload": "", "connectionTimeout": "1 second"
        },
        "timeout": "1 second", "interval": "5 seconds", "attempts": 3, "initialDelay": "0 seconds"
    },
    "readiness": {
        "mode": {
            "type": "HTTP", "protocol": "HTTP", "portName": "main", "path": "/", "verb": "GET",
            "successCodes": [ 200 ], "payload": "", "connectionTimeout": "1 second"
        },
        "timeout": "1 second", "interval": "3 seconds", "attempts": 3, "initialDelay": "0 seconds"
    },
    "tags": { "superSpecialApp": "yes_i_am", "say_my_name": "heisenberg", "environment" : "dev", "region" : "dc1" },
    "env": { "CORES": "8" },
    "exposureSpec": { "vhost": "testapp.local", "portName": "main", "mode": "ALL" },
    "preShutdown": {
        "hooks": [
            {
                "type": "HTTP", "protocol": "HTTP", "portName": "main", "path": "/", "verb": "GET",
                "successCodes": [ 200 ], "payload": "", "connectionTimeout": "1 second"
            }
        ],
        "waitBeforeKill": "3 seconds"
    }
}
`

const kitchenSinkJSON = `
{
  "name": "ORDER_SVC", "version": "3", "type": "SERVICE",
  "executable": { "type": "DOCKER", "url": "ghcr.io/acme/order-svc:1.4.2", "dockerPullTimeout": "5 minutes" },
  "exposedPorts": [ { "name": "main", "port": 8080, "type": "HTTP" }, { "name": "admin", "port": 8081, "type": "HTTP" } ],
  "volumes": [ { "pathInContainer": "/data", "pathOnHost": "/tmp/order-svc", "mode": "READ_WRITE" } ],
  "configs": [
    { "type": "INLINE", "localFilename": "/etc/app/app.yml", "data": "cG9ydDogODA4MAo=" },
    { "type": "EXECUTOR_LOCAL_FILE", "localFilename": "/etc/app/host.txt", "filePathOnHost": "/etc/hostname" },
    { "type": "CONTROLLER_HTTP_FETCH", "localFilename": "/etc/app/remote.yml",
      "http": { "protocol": "HTTPS", "hostname": "config.internal", "port": 443, "path": "/v1/order-svc.yml",
                "verb": "GET", "successCodes": [200], "connectionTimeout": "1 second", "operationTimeout": "5 seconds",
                "headers": { "X-Env": "prod" }, "insecure": false } },
    { "type": "EXECUTOR_HTTP_FETCH", "localFilename": "/etc/app/flags.json",
      "http": { "protocol": "HTTP", "hostname": "flags.internal", "port": 80, "path": "/flags", "verb": "GET" } }
  ],
  "logging": { "type": "RSYSLOG", "server": "udp://rsyslog.internal:514", "tagPrefix": "order-", "tagSuffix": "-prod" },
  "resources": [ { "type": "CPU", "count": 2 }, { "type": "MEMORY", "sizeInMB": 1024 } ],
  "placementPolicy": { "type": "COMPOSITE", "combiner": "AND",
                       "policies": [ { "type": "MAX_N_PER_HOST", "max": 2 }, { "type": "MATCH_TAG", "tag": "ssd" } ] },
  "healthcheck": { "mode": { "type": "HTTP", "protocol": "HTTP", "portName": "admin", "path": "/healthcheck",
                             "verb": "GET", "successCodes": [200], "connectionTimeout": "1 second", "insecure": false },
                   "timeout": "2 seconds", "interval": "10 seconds", "attempts": 3, "initialDelay": "5 seconds" },
  "readiness": { "mode": { "type": "CMD", "command": "curl -sf localhost:8080/ready", "shellDisabled": false },
                 "timeout": "3 seconds", "interval": "3 seconds", "attempts": 20, "initialDelay": "10 seconds" },
  "tags": { "team": "payments" },
  "env": { "JAVA_OPTS": "-Xmx768m", "DC": "" },
  "args": [ "--server.port=8080" ],
  "devices": [ { "type": "DIRECT", "pathOnHost": "/dev/fuse", "pathInContainer": "/dev/fuse", "permissions": "READ_WRITE" } ],
  "exposureSpec": { "vhost": "orders.internal", "portName": "main", "mode": "ALL" },
  "preShutdown": { "hooks": [ { "type": "HTTP", "protocol": "HTTP", "portName": "admin", "path": "/deregister",
                                "verb": "POST", "successCodes": [200], "payload": "{}" },
                              { "type": "CMD", "command": "sleep 1" } ],
                   "waitBeforeKill": "10 seconds" },
  "userSpec": { "user": "1000", "group": "1000" }
}
`
