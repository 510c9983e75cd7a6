// Live progress for a job page: follows /jobs/ID/events and updates the page in place.
// Without JavaScript the page still shows the state it had when loaded.
(function () {
  var box = document.getElementById("job");
  if (!box || box.dataset.terminal === "true" || !window.EventSource) return;
  var source = new EventSource("/jobs/" + box.dataset.job + "/events");
  source.addEventListener("progress", function (e) {
    var job = JSON.parse(e.data);
    var p = job.progress;
    var fraction = p.bytes_total > 0 ? p.bytes_done / p.bytes_total : (p.steps_total > 0 ? p.steps_done / p.steps_total : 0);
    document.getElementById("job-progress").value = Math.round(fraction * 100);
    document.getElementById("job-step").textContent = p.step;
    document.getElementById("job-state").textContent = job.state;
    document.getElementById("job-error").textContent = job.error ? job.error.code + ": " + job.error.message : "";
    if (["done", "failed", "cancelled"].indexOf(job.state) >= 0) { source.close(); window.location.reload(); }
  });
})();
