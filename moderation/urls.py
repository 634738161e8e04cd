from django.urls import path, re_path

from moderation.views import appeals, audit, merchants, operations, policies, queue, removals, reports, rules

urlpatterns = [
    path("queue/", queue.queue_index, name="queue"),
    path("queue/claim-next/", queue.queue_claim_next, name="queue-claim-next"),
    path("queue/bulk/", queue.queue_bulk, name="queue-bulk"),
    path("queue/<int:item_id>/", queue.queue_item, name="queue-item"),
    path("queue/<int:item_id>/undo/", queue.queue_item_undo, name="queue-item-undo"),
    path("queue/<int:item_id>/<slug:action>/", queue.queue_item_action, name="queue-item-action"),
    path("appeals/", appeals.appeal_index, name="appeal-index"),
    path("appeals/claim-next/", appeals.appeal_claim_next, name="appeal-claim-next"),
    path("appeals/<int:appeal_id>/", appeals.appeal_show, name="appeal-detail"),
    path("appeals/<int:appeal_id>/<slug:action>/", appeals.appeal_action, name="appeal-action"),
    path("audit/", audit.audit_index, name="audit-index"),
    re_path(
        r"^reports/transparency\.(?P<fmt>csv|json)$", reports.transparency_report_download, name="transparency-report"
    ),
    path("merchants/", merchants.merchant_index, name="merchant-index"),
    path("merchants/<int:merchant_id>/", merchants.merchant_show, name="merchant-detail"),
    path("merchants/<int:merchant_id>/sanction/", merchants.merchant_sanction, name="merchant-sanction"),
    path(
        "merchants/<int:merchant_id>/sanctions/<int:sanction_id>/lift/", merchants.sanction_lift, name="sanction-lift"
    ),
    path("policies/", policies.policy_index, name="policy-index"),
    path("policies/new/", policies.policy_create, name="policy-create"),
    path("policies/<int:policy_id>/", policies.policy_show, name="policy-detail"),
    path("policies/<int:policy_id>/edit/", policies.policy_edit, name="policy-edit"),
    path("policies/<int:policy_id>/announce/", policies.policy_announce, name="policy-announce"),
    path("policies/<int:policy_id>/new-version/", policies.policy_new_version, name="policy-new-version"),
    path("policies/<int:policy_id>/rules/", rules.rule_index, name="rule-index"),
    path("policies/<int:policy_id>/rules/new/", rules.rule_edit, name="rule-create"),
    path("policies/<int:policy_id>/rules/<int:rule_id>/", rules.rule_edit, name="rule-edit"),
    path("policies/<int:policy_id>/rules/<int:rule_id>/toggle/", rules.rule_toggle, name="rule-toggle"),
    path("policies/<int:policy_id>/rules/<int:rule_id>/shadow/", rules.rule_shadow, name="rule-shadow"),
    path("policies/<int:policy_id>/scan/", policies.policy_scan, name="policy-scan"),
    path("scans/<int:scan_id>/", policies.scan_show, name="scan-detail"),
    path("scans/<int:scan_id>/progress/", policies.scan_progress_json, name="scan-progress"),
    path("scans/<int:scan_id>/resume/", policies.scan_resume, name="scan-resume"),
    path("removals/", removals.removal_index, name="removal-index"),
    path("removals/new/", removals.removal_create, name="removal-create"),
    path("removals/<int:removal_id>/", removals.removal_show, name="removal-detail"),
    path("removals/<int:removal_id>/progress/", removals.removal_progress_json, name="removal-progress"),
    path("removals/<int:removal_id>/cancel/", removals.removal_cancel, name="removal-cancel"),
    path("removals/<int:removal_id>/resume/", removals.removal_resume, name="removal-resume"),
    path("operations/", operations.operations_index, name="operations"),
    path("operations/<slug:kind>/<int:object_id>/retry/", operations.operations_retry, name="operations-retry"),
    path("operations/<slug:kind>/retry-all/", operations.operations_retry_all, name="operations-retry-all"),
]
