"""The qc app's API routes, under /api/v1/."""

from django.urls import path

from qc.api import images, io, reports, reviews, submissions

P = "projects/<slug:slug>/"

urlpatterns = [
    path(P + "images/", images.ImageList.as_view(), name="api-images"),
    path(P + "images/<int:pk>/", images.ImageDetail.as_view(), name="api-image"),
    path(P + "images/<int:pk>/pixels/", images.ImagePixels.as_view(), name="api-image-pixels"),
    path(
        P + "images/<int:pk>/agreement/",
        reports.ImageAgreementView.as_view(),
        name="api-image-agreement",
    ),
    path(
        P + "images/<int:pk>/review-assignment/",
        images.ImageReviewAssign.as_view(),
        name="api-image-review-assignment",
    ),
    path(P + "images/<int:pk>/label/", images.ImageLabelView.as_view(), name="api-image-label"),
    path(
        P + "images/<int:pk>/send-back/",
        images.ImageSendBack.as_view(),
        name="api-image-send-back",
    ),
    path(P + "images/<int:pk>/gold/", images.ImageGold.as_view(), name="api-image-gold"),
    path(P + "submissions/", submissions.SubmissionList.as_view(), name="api-submissions"),
    path(
        P + "submissions/upload/",
        submissions.SubmissionUpload.as_view(),
        name="api-submission-upload",
    ),
    path(
        P + "submissions/<int:pk>/",
        submissions.SubmissionDetail.as_view(),
        name="api-submission",
    ),
    path(
        P + "submissions/<int:pk>/review/",
        submissions.SubmissionReview.as_view(),
        name="api-submission-review",
    ),
    path(P + "review-queue/", reviews.ReviewQueue.as_view(), name="api-review-queue"),
    path(P + "gold-scores/", reviews.GoldScoreList.as_view(), name="api-gold-scores"),
    path(P + "audit/", reviews.AuditLog.as_view(), name="api-audit"),
    path(
        "projects/<slug:slug>/agreement/", reports.AgreementReport.as_view(), name="api-agreement"
    ),
    path(
        "projects/<slug:slug>/agreement/annotators/",
        reports.StyleReports.as_view(),
        name="api-style-reports",
    ),
    path("projects/<slug:slug>/imports/", io.ImportList.as_view(), name="api-imports"),
    path("projects/<slug:slug>/imports/<int:pk>/", io.ImportDetail.as_view(), name="api-import"),
    path(
        "projects/<slug:slug>/imports/<int:pk>/retry/",
        io.ImportRetry.as_view(),
        name="api-import-retry",
    ),
    path(
        "projects/<slug:slug>/imports/<int:pk>/file/",
        io.ImportFile.as_view(),
        name="api-import-file",
    ),
    path("projects/<slug:slug>/exports/", io.ExportList.as_view(), name="api-exports"),
    path("projects/<slug:slug>/exports/<int:pk>/", io.ExportDetail.as_view(), name="api-export"),
    path(
        "projects/<slug:slug>/exports/<int:pk>/retry/",
        io.ExportRetry.as_view(),
        name="api-export-retry",
    ),
    path(
        "projects/<slug:slug>/exports/<int:pk>/download/",
        io.ExportDownload.as_view(),
        name="api-export-download",
    ),
    path("projects/<slug:slug>/recomputes/", io.RecomputeList.as_view(), name="api-recomputes"),
    path(
        "projects/<slug:slug>/recomputes/<int:pk>/",
        io.RecomputeDetail.as_view(),
        name="api-recompute",
    ),
    path(
        "projects/<slug:slug>/recomputes/<int:pk>/retry/",
        io.RecomputeRetry.as_view(),
        name="api-recompute-retry",
    ),
]
