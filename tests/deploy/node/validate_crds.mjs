// Validates custom resources against the schemas shipped by @kubernetes-models/cilium and
// @kubernetes-models/keda (generated from the projects' Go API types).
//
//   node validate_crds.mjs <node_modules dir>  < objects.json  > results.json
//
// stdin: a JSON array of objects; stdout: a JSON array of {kind, name, errors} in the same
// order, where errors is null when the object is valid and a message otherwise. An object of
// a kind that has no schema here gets an error: nothing passes unchecked.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const MODELS = {
  "cilium.io/v2": "@kubernetes-models/cilium/cilium.io/v2",
  "keda.sh/v1alpha1": "@kubernetes-models/keda/keda.sh/v1alpha1",
};

async function modelClass(nodeModules, apiVersion, kind) {
  const base = MODELS[apiVersion];
  if (!base || !/^[A-Za-z]+$/.test(kind)) return null;
  const url = pathToFileURL(join(nodeModules, base, `${kind}.js`)).href;
  try {
    return (await import(url))[kind] ?? null;
  } catch {
    return null;
  }
}

async function check(nodeModules, obj) {
  const Model = await modelClass(nodeModules, obj.apiVersion, obj.kind);
  if (Model === null) return `no schema for ${obj.apiVersion} ${obj.kind}`;
  try {
    new Model(obj).validate();
    return null;
  } catch (error) {
    return String(error.message ?? error);
  }
}

const nodeModules = process.argv[2];
const objects = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const obj of objects) {
  const errors = await check(nodeModules, obj);
  results.push({ kind: obj.kind, name: obj.metadata?.name ?? null, errors });
}
process.stdout.write(JSON.stringify(results));
