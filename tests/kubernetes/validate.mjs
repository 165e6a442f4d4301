// Validates custom resources against their CRD schemas as the
// @kubernetes-models packages ship them (versions in package.json and
// package-lock.json). Reads a JSON array of objects on stdin; prints each
// object's verdict; exits 1 when any fails or has no model here.
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";

const models = {
  "keda.sh/v1alpha1 ScaledObject": ScaledObject,
  "monitoring.coreos.com/v1 PodMonitor": PodMonitor,
  "monitoring.coreos.com/v1 PrometheusRule": PrometheusRule,
};

let input = "";
for await (const chunk of process.stdin) input += chunk;
let failed = false;
for (const object of JSON.parse(input)) {
  const type = `${object.apiVersion} ${object.kind}`;
  const name = `${type} ${object.metadata?.name}`;
  const Model = models[type];
  if (!Model) {
    console.log(`${name}: no schema here`);
    failed = true;
    continue;
  }
  try {
    new Model(object).validate();
    console.log(`${name}: valid`);
  } catch (error) {
    console.log(`${name}: ${error.message}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
