"""A user's own step flow, loaded through IRFLOW_FLOW_MODULES (test support)."""

from prefect import flow

from irflow.step_flows import step_flow


@step_flow("quarantine_document", title="Quarantine document", description="Move a RAG document aside.")
@flow(name="test-quarantine-document")
def quarantine_document(incident_id: str, args: dict) -> dict:
    return {"quarantined": args.get("document"), "incident": incident_id}
