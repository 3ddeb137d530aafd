#!/usr/bin/env python3
# Copyright (c) 2026 The ovs-psp authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at:
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Merges ovs-psp's tables into Open vSwitch's database schema.

Usage: merge-schema.py OVS_SRC_DIR PSP_OVSSCHEMA PSP_XML

Adds the tables of PSP_OVSSCHEMA to OVS_SRC_DIR/vswitchd/vswitch.ovsschema
(a new minor version, and the checksum recomputed with OVS's own tool) and
the documentation in PSP_XML to vswitch.xml, where OVS's build checks that
every column is documented and makes the ovs-vswitchd.conf.db(5) manual.
"""

import json
import subprocess
import sys


def main():
    ovs_src, psp_schema, psp_xml = sys.argv[1:4]
    schema_path = ovs_src + "/vswitchd/vswitch.ovsschema"
    xml_path = ovs_src + "/vswitchd/vswitch.xml"

    with open(schema_path) as f:
        schema = json.load(f)
    with open(psp_schema) as f:
        tables = json.load(f)["tables"]
    clash = set(tables) & set(schema["tables"])
    if clash:
        sys.exit("merge-schema: tables already in %s: %s"
                 % (schema_path, ", ".join(sorted(clash))))
    schema["tables"].update(tables)

    # A new minor version: the schema gained tables, compatibly.
    major, minor, _ = schema["version"].split(".")
    schema["version"] = "%s.%d.0" % (major, int(minor) + 1)
    # OVS's checksum is that of the file without its "cksum" line.
    schema["cksum"] = "0 0"
    text = json.dumps(schema, indent=1) + "\n"
    cksum = subprocess.run(
        [ovs_src + "/build-aux/calculate-schema-cksum"], input=text,
        capture_output=True, text=True, check=True).stdout.strip()
    with open(schema_path, "w") as f:
        f.write(text.replace('"cksum": "0 0"', '"cksum": "%s"' % cksum, 1))

    with open(xml_path) as f:
        xml = f.read()
    with open(psp_xml) as f:
        doc = f.read()
    end = xml.rindex("</database>")
    with open(xml_path, "w") as f:
        f.write(xml[:end] + doc + xml[end:])


if __name__ == "__main__":
    main()
