package app

import (
	"context"
	"errors"
	"net/http"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/httpx"
	"github.com/ordersys/ordersys/internal/messaging"
)

// admin implements the operator's endpoints: the dead letters and their replay.
type admin struct{ kafka *kgo.Client }

// ListDeadLetters is GET /api/v1/admin/dlq.
func (a admin) ListDeadLetters(ctx context.Context, req api.ListDeadLettersRequestObject) (api.ListDeadLettersResponseObject, error) {
	var topics []string
	if req.Params.Topic != nil {
		topics = []string{*req.Params.Topic}
	}
	letters, err := messaging.ListDeadLetters(ctx, a.kafka, topics)
	if err != nil {
		p := httpx.NewProblem(http.StatusBadGateway, httpx.TypeUnavailable, "Cannot read the dead-letter topics", err.Error())
		return api.ListDeadLettersdefaultApplicationProblemPlusJSONResponse{Body: p, StatusCode: p.Status}, nil
	}
	out := api.ListDeadLetters200JSONResponse{Items: []api.DeadLetter{}}
	for _, dl := range letters {
		out.Items = append(out.Items, deadLetterAPI(dl))
	}
	return out, nil
}

// ReplayDeadLetter is POST /api/v1/admin/dlq/{id}/replay.
func (a admin) ReplayDeadLetter(ctx context.Context, req api.ReplayDeadLetterRequestObject) (api.ReplayDeadLetterResponseObject, error) {
	dl, err := messaging.ReplayDeadLetter(ctx, a.kafka, req.Id)
	if errors.Is(err, messaging.ErrDeadLetterNotFound) {
		p := httpx.NewProblem(http.StatusNotFound, httpx.TypeNotFound, "No such dead letter", err.Error())
		return api.ReplayDeadLetterdefaultApplicationProblemPlusJSONResponse{Body: p, StatusCode: p.Status}, nil
	}
	if err != nil {
		p := httpx.NewProblem(http.StatusBadGateway, httpx.TypeUnavailable, "Replay failed", err.Error())
		return api.ReplayDeadLetterdefaultApplicationProblemPlusJSONResponse{Body: p, StatusCode: p.Status}, nil
	}
	return api.ReplayDeadLetter202JSONResponse(deadLetterAPI(dl)), nil
}

func deadLetterAPI(dl messaging.DeadLetter) api.DeadLetter {
	return api.DeadLetter{
		Id: dl.ID, Topic: dl.Topic, OriginalTopic: dl.OriginalTopic, OriginalPartition: dl.OriginalPartition,
		OriginalOffset: dl.OriginalOffset, Key: dl.Key, EventId: dl.EventID, EventType: dl.EventType,
		Error: dl.Error, Attempts: dl.Attempts, Consumer: dl.Consumer, DeadLetteredAt: dl.DeadLetteredAt,
	}
}
